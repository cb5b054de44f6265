"""`shardkeeper delete backup ID`: committed backups removed on purpose, the newest guarded.

Real SeaweedFS with enforced credentials; the backups are planted with the ages the test
needs and everything after is the real CLI and the bucket read back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from fixtures.e2e_stack import S3_KEY_ENV, S3_SECRET_ENV, s3_location
from fixtures.planted import plant
from fixtures.spec_docs import CLUSTER
from shardkeeper import naming
from shardkeeper.cli.app import app
from shardkeeper.contracts.common import S3Location
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.control import demo
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.stores.catalog import list_backups

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
OLD, NEW = naming.backup_id_for(T0), naming.backup_id_for(T0 + timedelta(days=1))
SHARDS = (("commerce", "-"), ("customer", "-80"))


@pytest.fixture
def bucket_with_backups(
    tmp_path: Path, seaweed: SeaweedFS, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[S3Location, list[Path], dict[tuple[str, str, str], BackupManifest]]:
    """Runs OLD and NEW of schedule nightly on two shards, and OLD of hourly on one."""
    monkeypatch.setenv(S3_KEY_ENV, seaweed.access_key)
    monkeypatch.setenv(S3_SECRET_ENV, seaweed.secret_key)
    loc = s3_location(seaweed, s3_bucket)
    planted = {}
    for day, backup_id in enumerate((OLD, NEW)):
        for keyspace, shard in SHARDS:
            planted[(keyspace, shard, backup_id)] = plant(
                loc, seaweed, cluster="demo", keyspace=keyspace, shard=shard,
                backup_id=backup_id, schedule="nightly", strategy="all-shards",
                finished_at=T0 + timedelta(days=day))
    planted[("customer", "-80", "hourly")] = plant(
        loc, seaweed, cluster="demo", keyspace="customer", shard="-80", backup_id=OLD,
        schedule="hourly", strategy="all-shards", finished_at=T0)
    files = [tmp_path / "cluster.yaml", tmp_path / "nightly.yaml"]
    files[0].write_text(yaml.safe_dump(CLUSTER))
    files[1].write_text(yaml.safe_dump(demo.schedule_document(
        cluster="demo", endpoint=seaweed.endpoint, bucket=s3_bucket, name="nightly",
        access_key_env=S3_KEY_ENV, secret_key_env=S3_SECRET_ENV)))
    return loc, files, planted


def _delete(files: list[Path], *args: str) -> Result:
    return CliRunner().invoke(app, ["delete", "backup", *args, "-f", str(files[0]),
                                    "-f", str(files[1]), "-o", "json"])


def _stored(loc: S3Location) -> set[tuple[str, str, str, str | None]]:
    return {(m.keyspace, m.shard, m.backup_id, m.schedule) for m in list_backups(loc, "demo")}


def _objects(seaweed: SeaweedFS, loc: S3Location) -> set[str]:
    return {o["Key"] for o in seaweed.client().list_objects_v2(
        Bucket=loc.bucket, Prefix="backups/").get("Contents", [])}


def test_an_old_set_is_deleted_whole_and_only_what_was_named(
    bucket_with_backups: tuple[S3Location, list[Path], dict[tuple[str, str, str],
                                                             BackupManifest]],
    seaweed: SeaweedFS,
) -> None:
    loc, files, planted = bucket_with_backups
    dry = _delete(files, OLD, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert {r["action"] for r in json.loads(dry.output)} == {"would delete"}
    assert len(_stored(loc)) == 5, "a dry run deletes nothing"

    result = _delete(files, OLD, "--schedule", "nightly")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {(r["keyspace"], r["shard"], r["schedule"]) for r in rows} == {
        (ks, sh, "nightly") for ks, sh in SHARDS}
    assert all(r["action"] == "deleted (2 objects)" for r in rows), rows
    assert _stored(loc) == {(ks, sh, NEW, "nightly") for ks, sh in SHARDS} | {
        ("customer", "-80", OLD, "hourly")}, "the other schedule's backup of the same id stays"
    gone = {planted[(ks, sh, OLD)] for ks, sh in SHARDS}
    objects = _objects(seaweed, loc)
    for m in gone:
        assert m.object_key not in objects and not any(
            k.startswith(m.object_key.rsplit("/", 1)[0] + "/") for k in objects)


def test_the_newest_backup_of_a_shard_needs_force_and_nothing_goes_without_it(
    bucket_with_backups: tuple[S3Location, list[Path], dict[tuple[str, str, str],
                                                             BackupManifest]],
) -> None:
    loc, files, _planted = bucket_with_backups
    before = _stored(loc)
    refused = _delete(files, NEW)
    assert refused.exit_code == 2, refused.output
    text = " ".join(refused.output.split())
    assert "newest verified backup of its shard" in text and "--force" in text
    assert "Traceback" not in refused.output
    assert _stored(loc) == before, "a refusal deletes nothing, not even the other shard's"

    forced = _delete(files, NEW, "--keyspace", "customer", "--shard", "-80", "--force")
    assert forced.exit_code == 0, forced.output
    assert [(r["keyspace"], r["shard"], r["newest"]) for r in json.loads(forced.output)] == [
        ("customer", "-80", True)]
    assert _stored(loc) == before - {("customer", "-80", NEW, "nightly")}


def test_unknown_ids_and_half_given_shards_exit_2_naming_them(
    bucket_with_backups: tuple[S3Location, list[Path], dict[tuple[str, str, str],
                                                             BackupManifest]],
) -> None:
    loc, files, _planted = bucket_with_backups
    missing = _delete(files, "20200101T000000Z")
    assert missing.exit_code == 2, missing.output
    assert "no committed backup '20200101T000000Z'" in " ".join(missing.output.split())
    half = _delete(files, OLD, "--shard", "-80")
    assert half.exit_code == 2 and "--shard needs --keyspace" in half.output
    assert len(_stored(loc)) == 5
