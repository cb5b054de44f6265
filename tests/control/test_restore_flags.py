"""``restore start`` flags become the same workflow input a Restore document would."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fixtures.spec_docs import CLUSTER, schedule, write
from shardkeeper.control import restores
from shardkeeper.errors import SpecInvalid


def test_flags_make_a_restore_input_with_a_generated_name(tmp_path: Path) -> None:
    files = [write(tmp_path, CLUSTER, schedule("nightly"))]
    inp = restores.input_of_flags(restores.RestoreFlags(
        cluster="demo", files=files, keyspace="customer", shard="-80", backup="latest"))
    assert re.fullmatch(r"restore-[0-9a-f]{8}", inp.name)
    assert (inp.cluster, inp.keyspace, inp.shard, inp.source.backup_id) == (
        "demo", "customer", "-80", "latest")
    assert inp.target.cluster == "demo" and not inp.require_approval
    named = restores.input_of_flags(restores.RestoreFlags(
        cluster="demo", files=files, name="back", require_approval=True))
    assert (named.name, named.require_approval) == ("back", True)


def test_flags_without_the_target_cluster_document_are_refused(tmp_path: Path) -> None:
    files = [write(tmp_path, schedule("nightly"))]
    with pytest.raises(SpecInvalid, match="no Cluster document"):
        restores.input_of_flags(restores.RestoreFlags(cluster="demo", files=files))
