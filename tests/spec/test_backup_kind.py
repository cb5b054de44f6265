"""``kind: Backup``: a one-shot BackupRun input, defaults from the cluster's schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixtures.spec_docs import CLUSTER, backup, schedule, write
from shardkeeper.contracts.backup import Scope
from shardkeeper.errors import SpecInvalid
from shardkeeper.spec.convert import backup_run_input
from shardkeeper.spec.load import load
from shardkeeper.spec.validate import check_references


@pytest.mark.parametrize(
    ("fields", "scope"),
    [({}, Scope.CLUSTER), ({"keyspace": "customer"}, Scope.KEYSPACE),
     ({"keyspace": "customer", "shard": "-80"}, Scope.SHARD)],
)
def test_scope_follows_the_fields_set(tmp_path: Path, fields: dict[str, str],
                                      scope: Scope) -> None:
    specs = load([write(tmp_path, CLUSTER, schedule(target="primary"), backup(**fields))])
    check_references(specs)
    inp = backup_run_input(specs.backups[0], specs, backup_id_suffix=None)
    (strategy,) = inp.strategies
    assert strategy.scope == scope
    assert (strategy.keyspace, strategy.shard) == (fields.get("keyspace"), fields.get("shard"))
    assert inp.stagger_window_seconds == 0 and inp.excluded_keyspaces == ()
    assert inp.policy.destination.bucket == "shardkeeper-demo", "from the cluster's schedule"
    assert inp.policy.target == "primary"
    assert inp.backup_id is None and inp.schedule == "before-migration"


def test_own_fields_override_the_schedule_and_the_suffix_makes_the_id(tmp_path: Path) -> None:
    doc = backup(target="prefer-replica", jobTimeout="2h", extraFlags={"use-memory": "1G"},
                 destination={"s3": {"bucket": "elsewhere"}})
    specs = load([write(tmp_path, CLUSTER, schedule(target="primary"), doc)])
    now = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    inp = backup_run_input(specs.backups[0], specs, backup_id_suffix="m1", now=now)
    assert inp.backup_id == "20261122T020000Z-m1"
    assert inp.policy.target == "prefer-replica"
    assert inp.policy.job_timeout_seconds == 7200
    assert inp.policy.destination.bucket == "elsewhere"
    assert inp.strategies[0].extra_flags == {"use-memory": "1G"}


def test_ambiguous_defaults_need_a_destination_or_a_schedule(tmp_path: Path) -> None:
    specs = load([write(tmp_path, CLUSTER, schedule("a"), schedule("b"), backup())])
    with pytest.raises(SpecInvalid, match=r"spec\.destination: required field is missing"):
        check_references(specs)
    specs = load([write(tmp_path, CLUSTER, schedule("a"), schedule("b"), backup(schedule="b"))])
    check_references(specs)
    specs = load([write(tmp_path, CLUSTER, schedule("a"), backup(schedule="zz"))])
    with pytest.raises(SpecInvalid, match=r"spec\.schedule: no BackupSchedule 'zz' of cluster"):
        check_references(specs)


def test_unknown_targets_are_rejected(tmp_path: Path) -> None:
    specs = load([write(tmp_path, CLUSTER, schedule(), backup(keyspace="orders"))])
    with pytest.raises(SpecInvalid, match=r"spec\.keyspace: unknown keyspace 'orders'"):
        check_references(specs)
    specs = load([write(tmp_path, CLUSTER, schedule(), backup(keyspace="customer", shard="-40"))])
    with pytest.raises(SpecInvalid, match=r"spec\.shard: unknown shard '-40'"):
        check_references(specs)
    specs = load([write(tmp_path, CLUSTER, backup(cluster="prod"))])
    with pytest.raises(SpecInvalid, match=r"spec\.cluster: unknown cluster 'prod'"):
        backup_run_input(specs.backups[0], specs, backup_id_suffix=None)
