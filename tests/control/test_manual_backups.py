"""One-shot backup requests: from documents and from flags, refused when there is none."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixtures.spec_docs import CLUSTER, backup, schedule, write
from shardkeeper import naming
from shardkeeper.control import manual_backups
from shardkeeper.errors import SpecInvalid
from shardkeeper.spec.backup import Backup
from shardkeeper.spec.load import load

NOW = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


def test_documents_and_flags_each_make_one_request(tmp_path: Path) -> None:
    specs = load([write(tmp_path, CLUSTER, schedule(), backup("before-migration"))])
    found = manual_backups.requests(specs, cluster="demo", keyspace="customer", shard="-80",
                                    now=NOW)
    names = [r.resource.metadata.name for r in found]
    assert names == ["before-migration", naming.manual_backup_name(NOW)]
    flags = found[1].resource
    assert isinstance(flags, Backup)
    assert (flags.spec.cluster, flags.spec.keyspace, flags.spec.shard) == (
        "demo", "customer", "-80")
    assert found[1].path == manual_backups.COMMAND_LINE


def test_nothing_to_back_up_is_refused(tmp_path: Path) -> None:
    specs = load([write(tmp_path, CLUSTER, schedule())])
    with pytest.raises(SpecInvalid, match="nothing to back up"):
        manual_backups.requests(specs, cluster=None, keyspace=None, shard=None, now=NOW)
