"""write_manifest: a retry after a lost response commits the same bytes again, never fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from shardkeeper import naming
from shardkeeper.activities.storage import write_manifest
from shardkeeper.contracts.agent import BinlogPosition
from shardkeeper.contracts.backup import WriteManifestInput
from shardkeeper.contracts.common import FilesystemLocation
from shardkeeper.contracts.manifest import BackupManifest

T0 = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)


async def test_a_retried_commit_is_idempotent(tmp_path: Path) -> None:
    where = FilesystemLocation(path=str(tmp_path / "volume"), prefix="backups")
    manifest = BackupManifest(
        cluster="demo", keyspace="customer", shard="-80", backup_id="20260101T020000Z",
        source_instance="customer-x80-1", source_role="replica", engine="mariabackup",
        object_key=naming.backup_key("backups", "demo", "customer", "-80", "20260101T020000Z"),
        size_bytes=3, sha256="0" * 64, parts=1, started_at=T0 - timedelta(minutes=5),
        finished_at=T0, verified_at=T0,
        binlog=BinlogPosition(gtid="0-1-5", file="mysql-bin.000001", position=4),
    )
    inp = WriteManifestInput(destination=where, manifest=manifest)
    env = ActivityEnvironment()

    first = await env.run(write_manifest, inp)
    written = (tmp_path / "volume" / first.key).read_bytes()
    again = await env.run(write_manifest, inp)  # the first response was lost

    assert again.key == first.key
    assert (tmp_path / "volume" / again.key).read_bytes() == written
