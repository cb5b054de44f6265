"""spec/convert.py: a run's input carries the Cluster document inline, never a path."""

from __future__ import annotations

from pathlib import Path

from fixtures.spec_docs import CLUSTER, backup, schedule, write
from shardkeeper.spec.cluster import Cluster
from shardkeeper.spec.convert import backup_run_input, run_input, topology_of
from shardkeeper.spec.load import load
from shardkeeper.spec.validate import check_references


def test_schedule_and_manual_inputs_embed_the_topology_and_no_path(tmp_path: Path) -> None:
    specs = load([write(tmp_path, CLUSTER, schedule("daily"), backup("now"))])
    check_references(specs)
    cluster_doc = specs.clusters["demo"].resource
    assert isinstance(cluster_doc, Cluster)
    for inp in (run_input(specs.schedules[0], specs),
                backup_run_input(specs.backups[0], specs, backup_id_suffix=None)):
        source = inp.topology_source
        assert source.kind == "inline" and source.path is None
        assert source.topology == topology_of(cluster_doc)
        assert str(tmp_path) not in inp.model_dump_json(), "no path of the applying machine"


def test_scheduled_runs_decide_ownership_at_run_time_and_manual_runs_do_not(
    tmp_path: Path,
) -> None:
    specs = load([write(tmp_path, CLUSTER, schedule("daily"), backup("now"))])
    check_references(specs)
    assert run_input(specs.schedules[0], specs).keyspace_owners_at_run_time is True
    manual = backup_run_input(specs.backups[0], specs, backup_id_suffix=None)
    assert manual.keyspace_owners_at_run_time is False and manual.excluded_keyspaces == ()
