"""Every backup example of seeds 000, 001 and 002 is accepted by ``plan`` as written.

Each file under seeds/ holds a seed's fragment under shardkeeper's apiVersion/kind, with
``cluster:`` naming the Cluster of seeds/_cluster.yaml and the fields shardkeeper requires
that the fragment leaves to its operator (a ``destination``; a ``schedule`` for seed 000's bare
strategy list). The plan each must produce is asserted: shards, strategies, offsets, cron lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fixtures.plan_app import plan_app
from shardkeeper.contracts.backup import Scope
from shardkeeper.contracts.common import S3Location
from shardkeeper.spec.convert import backup_run_input
from shardkeeper.spec.load import load
from shardkeeper.spec.validate import check_references

SEEDS = Path(__file__).parent / "seeds"
CLUSTER = SEEDS / "_cluster.yaml"
NOW = "2026-11-22T10:00:00Z"


def _plan(name: str, count: int = 1) -> dict[str, Any]:
    result = CliRunner().invoke(plan_app(), [
        "plan", "-f", str(CLUSTER), "-f", str(SEEDS / name), "--now", NOW,
        "--count", str(count), "-o", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def _rows(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(e["schedule"], e["keyspace"], e["shard"], e["strategy"], e["offset_seconds"],
             e["cron"]) for e in doc["entries"]]


def test_every_seed_file_is_covered() -> None:
    files = sorted(p.name for p in SEEDS.glob("0*.yaml"))
    assert files == [
        "000_combined_overrides.yaml", "000_frequency_cluster.yaml", "000_keyspace_scope.yaml",
        "000_shard_scope.yaml", "001_vitesscluster_schedules.yaml", "002_backup.yaml"]


def test_seed_000_shard_scope_names_customer_80_dash() -> None:
    doc = _plan("000_shard_scope.yaml", count=2)
    assert _rows(doc) == [
        ("customer-shards", "customer", "-80", "customer-80", 8, None),
        ("customer-shards", "customer", "80-", "customer-80-", 86, None),
    ]
    # a sub-minute offset has no cron line of its own: the runs are the slot plus the offset
    assert [e["next_runs"] for e in doc["entries"]] == [
        ["2026-11-22T10:00:08+00:00", "2026-11-22T10:02:08+00:00"],
        ["2026-11-22T10:01:26+00:00", "2026-11-22T10:03:26+00:00"],
    ]
    assert doc["excluded"] == []


def test_seed_000_keyspace_scope_covers_every_customer_shard() -> None:
    doc = _plan("000_keyspace_scope.yaml")
    assert _rows(doc) == [
        ("customer-keyspace", "customer", "80-", "customer-all", 5340, "29 1 * * *"),
        ("customer-keyspace", "customer", "-80", "customer-all", 52320, "32 14 * * *"),
    ]


def test_seed_000_frequency_24h_staggers_every_shard_of_the_cluster() -> None:
    doc = _plan("000_frequency_cluster.yaml")
    assert _rows(doc) == [
        ("daily-backup", "commerce", "-", "all-shards", 24300, "45 6 * * *"),
        ("daily-backup", "customer", "-80", "all-shards", 39780, "3 11 * * *"),
        ("daily-backup", "customer", "80-", "all-shards", 69720, "22 19 * * *"),
    ]


def test_seed_000_keyspace_override_excludes_customer_from_the_cluster_default() -> None:
    doc = _plan("000_combined_overrides.yaml")
    assert _rows(doc) == [
        ("cluster-daily", "commerce", "-", "all", 52080, "28 14 * * *"),
        ("customer-frequent", "customer", "80-", "customer-all", 5340, "29 1-23/6 * * *"),
        ("customer-frequent", "customer", "-80", "customer-all", 9120, "32 2-23/6 * * *"),
    ]
    assert doc["excluded"] == [{
        "schedule": "cluster-daily", "strategy": "all", "keyspace": "customer",
        "reason": "owned by Keyspace strategy 'customer-all' of schedule 'customer-frequent'"}]


def test_seed_001_backup_shard_strategies_with_keyspace_shard() -> None:
    # name: BackupShard is vitess' strategy kind, repeated per shard: each strategy is named
    # after its shard as vitess-operator names its pods (customer-x-80, customer-80-x ...)
    doc = _plan("001_vitesscluster_schedules.yaml", count=2)
    assert _rows(doc) == [
        ("every-minute-customer", "customer", "-80", "customer-x-80", 9, None),
        ("every-minute-customer", "customer", "80-", "customer-80-x", 42, None),
        ("every-minute-commerce", "commerce", "-", "commerce-x-x", 6, None),
    ]
    assert doc["entries"][2]["next_runs"] == [
        "2026-11-22T10:00:06+00:00", "2026-11-22T10:01:06+00:00"]


def test_seed_001_history_limits_and_resources_reach_the_policy() -> None:
    specs = load([CLUSTER, SEEDS / "001_vitesscluster_schedules.yaml"])
    sched = specs.schedules[0].resource.spec  # type: ignore[union-attr]
    assert (sched.successful_jobs_history_limit, sched.failed_jobs_history_limit) == (2, 3)
    assert sched.resources is not None
    assert sched.resources.requests == {"cpu": "100m", "memory": "1024Mi"}


def test_seed_002_backup_is_accepted_with_its_aliases() -> None:
    assert _plan("002_backup.yaml")["entries"] == []  # a Backup has no schedule to plan
    specs = load([CLUSTER, SEEDS / "002_backup.yaml"])
    check_references(specs)
    (loaded,) = specs.backups
    inp = backup_run_input(loaded, specs, backup_id_suffix="m1")
    assert inp.cluster == "cluster-sample" and inp.schedule == "backup-sample"
    (strategy,) = inp.strategies
    assert strategy.scope == Scope.CLUSTER and strategy.name == "backup-sample"
    policy = inp.policy
    assert (policy.engine, policy.target) == ("mariabackup", "prefer-replica")
    assert isinstance(policy.destination, S3Location)
    dest = policy.destination
    assert (dest.bucket, dest.prefix, dest.endpoint, dest.region, dest.force_path_style) == (
        "cloudnative-mysql-backups", "production", "http://minio.minio.svc:9000", "us-east-1",
        True)
    assert dest.credentials is not None
    assert dest.credentials.access_key_id.secret is not None
    assert (dest.credentials.access_key_id.secret.name,
            dest.credentials.access_key_id.secret.key) == ("minio-creds", "accessKey")


@pytest.mark.parametrize(("edit", "message"), [
    ({"online": False}, "online: False is not supported: shardkeeper takes online (hot)"),
    ({"method": "clone"}, "unknown method 'clone'; accepted: xtrabackup, mariabackup, logical"),
    ({"engine": "logical"}, "set 'method' or 'engine', not both"),
    ({"destination": {"filesystem": {"path": "/b"}}}, "set 'objectStore' or 'destination'"),
])
def test_seed_002_fields_shardkeeper_cannot_honour_are_refused(
    tmp_path: Path, edit: dict[str, Any], message: str
) -> None:
    doc = yaml.safe_load((SEEDS / "002_backup.yaml").read_text())
    doc["spec"].update(edit)
    path = tmp_path / "backup.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(plan_app(), ["plan", "-f", str(CLUSTER), "-f", str(path)])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
