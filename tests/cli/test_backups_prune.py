"""`shardkeeper backups prune --dry-run`: the plan of each schedule's retention, nothing deleted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fixtures.e2e_stack import S3_KEY_ENV, S3_SECRET_ENV, s3_location
from fixtures.planted import plant
from fixtures.spec_docs import CLUSTER
from shardkeeper import naming
from shardkeeper.cli.app import app
from shardkeeper.contracts.common import S3Location
from shardkeeper.control import demo
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.stores.catalog import list_backups

OLD = datetime(2020, 1, 1, 2, 0, tzinfo=UTC)


def _commit(loc: S3Location, seaweed: SeaweedFS, backup_id: str, schedule: str) -> None:
    plant(loc, seaweed, cluster="demo", keyspace="customer", shard="-80", backup_id=backup_id,
          schedule=schedule, strategy="all-shards", finished_at=OLD)


def test_dry_run_prints_the_plan_and_deletes_nothing(
    tmp_path: Path, seaweed: SeaweedFS, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(S3_KEY_ENV, seaweed.access_key)
    monkeypatch.setenv(S3_SECRET_ENV, seaweed.secret_key)
    loc = s3_location(seaweed, s3_bucket)
    ids = [(OLD + timedelta(days=d)).strftime(naming.BACKUP_ID_FORMAT) for d in range(9)]
    for backup_id in ids:
        _commit(loc, seaweed, backup_id, "nightly")
    _commit(loc, seaweed, ids[0], "hourly")
    files = [tmp_path / "cluster.yaml", tmp_path / "nightly.yaml"]
    files[0].write_text(yaml.safe_dump(CLUSTER))
    files[1].write_text(yaml.safe_dump(demo.schedule_document(
        cluster="demo", endpoint=seaweed.endpoint, bucket=s3_bucket, name="nightly",
        access_key_env=S3_KEY_ENV, secret_key_env=S3_SECRET_ENV)))

    result = CliRunner().invoke(app, ["backups", "prune", "--dry-run", "-f", str(files[0]),
                                      "-f", str(files[1]), "--schedule", "nightly",
                                      "-o", "json"])

    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    # keepLast 7 of 9 expired backups: the two oldest would go, the hourly one is not its own
    assert sorted(r["backup_id"] for r in rows if r["action"] == "delete") == ids[:2]
    kept = [r for r in rows if r["action"] == "keep"]
    assert len(kept) == 7 + 1
    assert any("belongs to schedule hourly" in r["reason"] for r in kept)
    assert len(list_backups(loc, "demo")) == 10, "a dry run deletes nothing"
