"""The catalog lists only committed backups and prunes without ever losing the newest one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shardkeeper import naming
from shardkeeper.contracts.agent import BinlogPosition
from shardkeeper.contracts.common import S3Location
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.stores.catalog import list_backups, put_manifest, read_manifest
from shardkeeper.datapath.stores.retention import prune_backups

T0 = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)


def _manifest(
    backup_id: str, finished: datetime, *, cluster: str = "demo", keyspace: str = "customer",
    shard: str = "-80",
) -> BackupManifest:
    return BackupManifest(
        cluster=cluster,
        keyspace=keyspace,
        shard=shard,
        backup_id=backup_id,
        source_instance="customer-x80-1",
        source_role="replica",
        engine="mariabackup",
        object_key=naming.backup_key("backups", cluster, keyspace, shard, backup_id),
        size_bytes=3,
        sha256="0" * 64,
        parts=1,
        started_at=finished - timedelta(minutes=5),
        finished_at=finished,
        verified_at=finished,
        binlog=BinlogPosition(gtid="0-1-5", file="mysql-bin.000001", position=4),
    )


def _commit(loc: S3Location, seaweed: SeaweedFS, manifest: BackupManifest) -> None:
    seaweed.client().put_object(Bucket=loc.bucket, Key=manifest.object_key, Body=b"xyz")
    put_manifest(loc, manifest)


def _garbage(loc: S3Location, seaweed: SeaweedFS, backup_id: str, shard: str = "-80") -> str:
    key = naming.backup_key(loc.prefix, "demo", "customer", shard, backup_id)
    seaweed.client().put_object(Bucket=loc.bucket, Key=key, Body=b"partial")
    return key


def _keys(loc: S3Location, seaweed: SeaweedFS) -> set[str]:
    page = seaweed.client().list_objects_v2(Bucket=loc.bucket)
    return {o["Key"] for o in page.get("Contents", [])}


def test_manifest_round_trip_is_sorted_json(s3_location: S3Location, seaweed: SeaweedFS) -> None:
    manifest = _manifest("20260101T020000Z", T0)

    key = put_manifest(s3_location, manifest)

    assert key == naming.manifest_key("backups", "demo", "customer", "-80", "20260101T020000Z")
    raw = seaweed.client().get_object(Bucket=s3_location.bucket, Key=key)["Body"].read()
    assert raw.startswith(b'{\n  "backup_id": "20260101T020000Z",\n  "binlog": {')
    assert read_manifest(s3_location, key) == manifest


def test_list_ignores_prefixes_without_metadata(
    s3_location: S3Location, seaweed: SeaweedFS
) -> None:
    _commit(s3_location, seaweed, _manifest("20260102T020000Z", T0 + timedelta(days=1)))
    _commit(s3_location, seaweed, _manifest("20260101T020000Z", T0))
    _commit(s3_location, seaweed, _manifest("20260101T020000Z", T0, shard="80-"))
    _commit(s3_location, seaweed, _manifest("20260101T020000Z", T0, cluster="other"))
    _garbage(s3_location, seaweed, "20260103T020000Z")

    everything = list_backups(s3_location)
    demo = list_backups(s3_location, "demo")
    one_shard = list_backups(s3_location, "demo", "customer", "-80")

    assert [(m.cluster, m.shard, m.backup_id) for m in everything] == [
        ("demo", "-80", "20260101T020000Z"),
        ("demo", "-80", "20260102T020000Z"),
        ("demo", "80-", "20260101T020000Z"),
        ("other", "-80", "20260101T020000Z"),
    ]
    assert len(demo) == 3
    assert [m.backup_id for m in one_shard] == ["20260101T020000Z", "20260102T020000Z"]
    assert list_backups(s3_location, "nobody") == []


def test_prune_never_deletes_the_newest_committed_backup(
    s3_location: S3Location, seaweed: SeaweedFS
) -> None:
    ids = ["20260101T020000Z", "20260102T020000Z", "20260103T020000Z"]
    for day, backup_id in enumerate(ids):
        _commit(s3_location, seaweed, _manifest(backup_id, T0 + timedelta(days=day)))

    # A year later, with 7 days of retention, everything is "expired": all but the newest go.
    deleted, aborted = prune_backups(
        s3_location, "demo", "customer", "-80", None, 7, T0 + timedelta(days=365)
    )

    assert deleted == ids[:2]
    assert aborted == 0
    assert [m.backup_id for m in list_backups(s3_location, "demo")] == ids[2:]
    remaining = _keys(s3_location, seaweed)
    assert not any(ids[0] in k or ids[1] in k for k in remaining)


def test_prune_keep_last_and_retention(s3_location: S3Location, seaweed: SeaweedFS) -> None:
    ids = [f"2026010{d}T020000Z" for d in range(1, 6)]
    for day, backup_id in enumerate(ids):
        _commit(s3_location, seaweed, _manifest(backup_id, T0 + timedelta(days=day)))
    now = T0 + timedelta(days=4, hours=1)

    # Nothing is older than 30 days: keep_last never deletes, it only protects.
    assert prune_backups(s3_location, "demo", "customer", "-80", 3, 30, now) == ([], 0)

    # Older than 2 days are ids[0..2], but the 4 newest are kept: only ids[0] goes.
    deleted, _ = prune_backups(s3_location, "demo", "customer", "-80", 4, 2, now)
    assert deleted == ids[:1]

    # Retention alone: older than 2 days goes (ids[2] finished 2 days and 1 hour ago).
    deleted, _ = prune_backups(s3_location, "demo", "customer", "-80", None, 2, now)
    assert deleted == ids[1:3]
    assert [m.backup_id for m in list_backups(s3_location)] == ids[3:]


def test_garbage_and_stale_uploads_go_after_the_grace(
    s3_location: S3Location, seaweed: SeaweedFS
) -> None:
    _commit(s3_location, seaweed, _manifest("20260102T020000Z", T0))
    old_garbage = _garbage(s3_location, seaweed, "20260101T020000Z")
    newer_garbage = _garbage(s3_location, seaweed, "20260103T020000Z")
    other_shard = _garbage(s3_location, seaweed, "20260101T020000Z", shard="80-")
    client = seaweed.client()
    stale_key = naming.backup_key("backups", "demo", "customer", "-80", "20251231T020000Z")
    client.create_multipart_upload(Bucket=s3_location.bucket, Key=stale_key)
    now = datetime.now(UTC)

    # Inside the grace period nothing uncommitted is touched.
    assert prune_backups(s3_location, "demo", "customer", "-80", None, 7, now) == ([], 0)
    assert {old_garbage, newer_garbage} <= _keys(s3_location, seaweed)

    # After the grace: garbage older than the newest commit goes. The prefix newer than the
    # newest commit may be a backup still being verified, and an open upload may always be
    # running (an earlier slot under Allow, whatever its id): both wait for the 24 h grace.
    later = now + timedelta(hours=2)
    deleted, aborted = prune_backups(s3_location, "demo", "customer", "-80", None, 7, later)
    assert (deleted, aborted) == (["20260101T020000Z"], 0)
    keys = _keys(s3_location, seaweed)
    assert old_garbage not in keys and newer_garbage in keys and other_shard in keys
    assert len(client.list_multipart_uploads(Bucket=s3_location.bucket).get("Uploads", [])) == 1

    much_later = now + timedelta(days=2)
    deleted, aborted = prune_backups(s3_location, "demo", "customer", "-80", None, 7,
                                     much_later)
    assert (deleted, aborted) == (["20260103T020000Z"], 1)
    assert client.list_multipart_uploads(Bucket=s3_location.bucket).get("Uploads", []) == []
    assert [m.backup_id for m in list_backups(s3_location)] == ["20260102T020000Z"]


def test_delete_removes_metadata_first(s3_location: S3Location, seaweed: SeaweedFS) -> None:
    # Simulate a prune that died after its first delete: the prefix must not be listed.
    manifest = _manifest("20260101T020000Z", T0)
    _commit(s3_location, seaweed, manifest)
    key = naming.manifest_key("backups", "demo", "customer", "-80", "20260101T020000Z")
    seaweed.client().delete_object(Bucket=s3_location.bucket, Key=key)

    assert list_backups(s3_location) == []
