"""Retention is per (schedule, strategy): its own backups only, never another's, never manual.

The planner is pure (hypothesis properties); the rest runs against real SeaweedFS, with the
keys the ShardBackup workflow writes (``naming.backup_dir``: unique per schedule and strategy).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shardkeeper import naming
from shardkeeper.activities.restore import pick_backup_set
from shardkeeper.contracts.agent import BinlogPosition
from shardkeeper.contracts.common import S3Location
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.contracts.restore import BackupChoice, ResolveRestoreSetInput, RestoreSource
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.restore.resolve import resolve_backup
from shardkeeper.datapath.stores.catalog import list_backups, put_manifest
from shardkeeper.datapath.stores.retention import (
    Committed,
    Leftover,
    Policy,
    plan_prune,
    plan_shard,
    prune_backups,
    read_cleanup_record,
)
from shardkeeper.errors import BackupNotFound, SpecInvalid

T0 = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
PAIRS = [("nightly", "all-shards"), ("hourly", "all-shards"), ("nightly", "customer-80-")]


def _manifest(
    backup_id: str, finished: datetime, schedule: str | None, strategy: str | None, *,
    trigger: str | None = "scheduled", legacy: bool = False,
) -> BackupManifest:
    directory = backup_id if legacy else naming.backup_dir(backup_id, schedule, strategy)
    return BackupManifest(
        cluster="demo", keyspace="customer", shard="-80", backup_id=backup_id,
        schedule=schedule, strategy=strategy, source_instance="customer-x80-1",
        source_role="replica", engine="mariabackup",
        object_key=naming.backup_key("backups", "demo", "customer", "-80", directory),
        size_bytes=3, sha256="0" * 64, parts=1, started_at=finished - timedelta(minutes=5),
        finished_at=finished, verified_at=finished,
        binlog=BinlogPosition(gtid="0-1-5", file="mysql-bin.000001", position=4),
        trigger=None if legacy else trigger, storage_dir=None if legacy else directory,
    )


def _commit(loc: S3Location, seaweed: SeaweedFS, manifest: BackupManifest) -> None:
    seaweed.client().put_object(Bucket=loc.bucket, Key=manifest.object_key, Body=b"xyz")
    put_manifest(loc, manifest)


def _day(day: int) -> str:
    return (T0 + timedelta(days=day)).strftime(naming.BACKUP_ID_FORMAT)


# --- The pure planner ------------------------------------------------------------------------

_entries = st.lists(
    st.tuples(st.integers(0, 60), st.sampled_from([*PAIRS, (None, None)]), st.booleans()),
    max_size=12, unique_by=lambda t: (t[0], t[1]),
)


def _committed(rows: list[tuple[int, tuple[str | None, str | None], bool]]) -> list[Committed]:
    return [Committed(naming.backup_dir(_day(d), s, t), _day(d), s, t, manual, T0 +
                      timedelta(days=d)) for d, (s, t), manual in rows]


@settings(max_examples=200, deadline=None)
@given(rows=_entries, keep_last=st.none() | st.integers(1, 5), days=st.integers(1, 30),
       age=st.integers(0, 400), pair=st.sampled_from(PAIRS))
def test_plan_deletes_only_own_scheduled_backups_and_keeps_the_newest(
    rows: list[tuple[int, tuple[str | None, str | None], bool]], keep_last: int | None,
    days: int, age: int, pair: tuple[str, str],
) -> None:
    committed = _committed(rows)
    policy = Policy(pair[0], pair[1], keep_last, days)
    plan = plan_prune(committed, [], [], policy, T0 + timedelta(days=age))

    deleted = {d.directory for d in plan.delete}
    own = [c for c in committed if (c.schedule, c.strategy) == pair and not c.manual]
    assert all(c.directory not in deleted for c in committed if c not in own)
    if own:
        newest = max(own, key=lambda c: (c.finished_at, c.backup_id))
        assert newest.directory not in deleted
    assert deleted | {d.directory for d in plan.keep} == {c.directory for c in committed}
    assert not deleted & {d.directory for d in plan.keep}


@settings(max_examples=100, deadline=None)
@given(written=st.integers(0, 100), pair=st.sampled_from(PAIRS),
       other=st.sampled_from(PAIRS), timeout=st.none() | st.integers(60, 7 * 24 * 3600))
def test_plan_never_aborts_another_pairs_upload(
    written: int, pair: tuple[str, str], other: tuple[str, str], timeout: int | None
) -> None:
    directory = naming.backup_dir(_day(0), *other)
    upload = Leftover(directory, T0, key=f"x/{directory}/backup.xbstream")
    policy = Policy(pair[0], pair[1], None, 7, job_timeout_seconds=timeout)

    plan = plan_prune([], [Leftover(directory, T0)], [upload], policy,
                      T0 + timedelta(days=written))

    if other != pair:
        assert plan.abort == [] and plan.garbage == []
    elif timeout is not None and written * 86400 > timeout + 3600:
        assert [d.key for d in plan.abort] == [upload.key]


def test_open_upload_of_own_pair_waits_for_the_job_timeout() -> None:
    directory = naming.backup_dir(_day(0), "nightly", "all-shards")
    upload = Leftover(directory, T0, key=f"x/{directory}/backup.xbstream")
    policy = Policy("nightly", "all-shards", None, 7, job_timeout_seconds=48 * 3600)
    newer = Committed(naming.backup_dir(_day(1), "nightly", "all-shards"), _day(1), "nightly",
                      "all-shards", False, T0 + timedelta(days=1))

    # A newer own backup committed while this one still runs: its upload is not garbage yet.
    assert plan_prune([newer], [], [upload], policy, T0 + timedelta(hours=30)).abort == []
    late = plan_prune([newer], [], [upload], policy, T0 + timedelta(hours=50))
    assert [d.key for d in late.abort] == [upload.key]


# --- Against real SeaweedFS ------------------------------------------------------------------


def test_two_schedules_sharing_a_destination_never_prune_each_other(
    s3_location: S3Location, seaweed: SeaweedFS
) -> None:
    for day in range(5):
        for schedule, strategy in PAIRS[:2]:
            _commit(s3_location, seaweed, _manifest(_day(day), T0 + timedelta(days=day),
                                                     schedule, strategy))
    _commit(s3_location, seaweed, _manifest(_day(0) + "-m0123abcd", T0, "adhoc", "all-shards",
                                            trigger="manual"))
    _commit(s3_location, seaweed, _manifest(_day(1) + "-m0123abce", T0, "adhoc", "all-shards",
                                            legacy=True))  # manual, told by its id alone
    now = T0 + timedelta(days=365)

    deleted, _ = prune_backups(s3_location, "demo", "customer", "-80", None, 7, now,
                               schedule="nightly", strategy="all-shards")

    assert deleted == [_day(d) for d in range(4)]
    left = [(m.backup_id, m.schedule) for m in list_backups(s3_location, "demo")]
    assert (_day(4), "nightly") in left
    assert sum(1 for _bid, schedule in left if schedule == "hourly") == 5
    assert sum(1 for _bid, schedule in left if schedule == "adhoc") == 2
    record = read_cleanup_record(s3_location, "demo", "customer", "-80", "nightly", "all-shards")
    assert record is not None and record["time"] == now.isoformat()
    assert [row["backup_id"] for row in record["deleted"]] == [_day(d) for d in range(3, -1, -1)]
    reasons = {row["backup_id"]: row["reason"] for row in record["kept"]}
    assert reasons[_day(4)].startswith("newest") and "manual" in reasons[_day(0) + "-m0123abcd"]


def test_another_schedules_open_upload_is_never_aborted(
    s3_location: S3Location, seaweed: SeaweedFS
) -> None:
    client = seaweed.client()
    _commit(s3_location, seaweed, _manifest(_day(1), T0, "nightly", "all-shards"))
    theirs = naming.backup_key("backups", "demo", "customer", "-80",
                               naming.backup_dir(_day(0), "hourly", "all-shards"))
    mine = naming.backup_key("backups", "demo", "customer", "-80",
                             naming.backup_dir(_day(0), "nightly", "all-shards"))
    for key in (theirs, mine):
        client.create_multipart_upload(Bucket=s3_location.bucket, Key=key)
    later = datetime.now(UTC) + timedelta(hours=3)

    plan = plan_shard(s3_location, "demo", "customer", "-80",
                      Policy("nightly", "all-shards", None, 7, job_timeout_seconds=3600), later)
    assert [d.key for d in plan.abort] == [mine]
    _, aborted = prune_backups(s3_location, "demo", "customer", "-80", None, 7, later,
                               schedule="nightly", strategy="all-shards",
                               job_timeout_seconds=3600)

    assert aborted == 1
    open_keys = [u["Key"] for u in
                 client.list_multipart_uploads(Bucket=s3_location.bucket).get("Uploads", [])]
    assert open_keys == [theirs]
    client.abort_multipart_upload(
        Bucket=s3_location.bucket, Key=theirs,
        UploadId=client.list_multipart_uploads(Bucket=s3_location.bucket)["Uploads"][0]["UploadId"],
    )


def test_same_nominal_time_keys_are_unique_and_restore_picks_by_strategy(
    s3_location: S3Location, seaweed: SeaweedFS
) -> None:
    backup_id = _day(0)
    cluster_wide = _manifest(backup_id, T0, "nightly", "all-shards")
    one_shard = _manifest(backup_id, T0, "nightly", "customer-80-")
    assert cluster_wide.object_key != one_shard.object_key
    for manifest in (cluster_wide, one_shard):
        _commit(s3_location, seaweed, manifest)
    _commit(s3_location, seaweed, _manifest(_day(-1), T0 - timedelta(days=1), "nightly",
                                            "all-shards", legacy=True))
    prune_backups(s3_location, "demo", "customer", "-80", None, 7, T0,
                  schedule="nightly", strategy="all-shards")  # writes a _cleanup record

    assert sorted(m.strategy or "" for m in list_backups(s3_location)) == [
        "all-shards", "all-shards", "customer-80-"]
    with pytest.raises(SpecInvalid, match="name the strategy") as refused:
        resolve_backup(s3_location, "demo", "customer", "-80", backup_id)
    assert "customer-80-" in str(refused.value) and "all-shards" in str(refused.value)
    assert resolve_backup(s3_location, "demo", "customer", "-80", backup_id,
                          strategy="customer-80-") == one_shard
    assert resolve_backup(s3_location, "demo", "customer", "-80", "latest",
                          strategy="all-shards") == cluster_wide
    old = resolve_backup(s3_location, "demo", "customer", "-80", _day(-1))
    assert old.storage_dir is None and old.directory() == _day(-1)


def test_cleanup_record_is_json_beside_the_shard(
    s3_location: S3Location, seaweed: SeaweedFS
) -> None:
    _commit(s3_location, seaweed, _manifest(_day(0), T0, "nightly", "all-shards"))
    prune_backups(s3_location, "demo", "customer", "-80", 3, 7, T0,
                  schedule="nightly", strategy="all-shards")

    key = naming.cleanup_record_key("backups", "demo", "customer", "-80",
                                    naming.schedule_tag("nightly", "all-shards"))
    body = json.loads(seaweed.client().get_object(Bucket=s3_location.bucket, Key=key)["Body"]
                      .read())
    assert body["schedule"] == "nightly" and body["deleted"] == []
    assert [row["backup_id"] for row in body["kept"]] == [_day(0)]


def test_two_schedules_of_one_strategy_name_are_told_apart_by_schedule_or_directory(
    s3_location: S3Location, seaweed: SeaweedFS
) -> None:
    """Both schedules name their strategy 'all' and fire at one slot: the same id twice."""
    backup_id = _day(0)
    nightly = _manifest(backup_id, T0, "nightly", "all")
    hourly = _manifest(backup_id, T0, "hourly", "all")
    for manifest in (nightly, hourly):
        _commit(s3_location, seaweed, manifest)

    with pytest.raises(SpecInvalid, match="directory as its id"):
        resolve_backup(s3_location, "demo", "customer", "-80", "latest", strategy="all")
    assert resolve_backup(s3_location, "demo", "customer", "-80", "latest", strategy="all",
                          schedule="hourly") == hourly
    assert resolve_backup(s3_location, "demo", "customer", "-80",
                          nightly.directory()) == nightly

    def pick(**source: str) -> list[BackupChoice]:
        return list(pick_backup_set(ResolveRestoreSetInput(
            source=RestoreSource(location=s3_location, **source), cluster="demo",
            shards=(("customer", "-80"),))).choices)

    with pytest.raises(SpecInvalid, match="schedule nightly"):
        pick()  # the saga refuses a guess between two data sets
    [by_schedule] = pick(schedule="nightly")
    assert (by_schedule.object_key, by_schedule.schedule) == (nightly.object_key, "nightly")
    [by_dir] = pick(backup_id=hourly.directory())
    assert by_dir.object_key == hourly.object_key and by_dir.backup_id == backup_id
    with pytest.raises(BackupNotFound, match="of strategy 'nightly-only'"):
        pick(strategy="nightly-only")


def test_a_backup_that_failed_verification_is_never_the_newest_verified() -> None:
    """The newest backup failed `backups verify`: the one before it is the restore point."""
    now = T0 + timedelta(days=40)

    def own(day: int, *, failed: bool = False) -> Committed:
        return Committed(naming.backup_dir(_day(day), "nightly", "all-shards"), _day(day),
                         "nightly", "all-shards", False, T0 + timedelta(days=day),
                         verify_failed=failed)

    good, bad_young, bad_old = own(0), own(39, failed=True), own(1, failed=True)
    plan = plan_prune([good, bad_young, bad_old], [], [],
                      Policy("nightly", "all-shards", keep_last=1, retention_days=7), now)
    kept = {d.backup_id: d.reason for d in plan.keep}
    assert "never deleted" in kept[good.backup_id], "40 days old, but the newest good one"
    assert kept[bad_young.backup_id].startswith("failed verification: kept for inspection")
    assert [d.backup_id for d in plan.delete] == [bad_old.backup_id]
    assert "failed verification" in plan.delete[0].reason
