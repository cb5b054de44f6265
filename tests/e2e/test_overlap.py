"""Overlap is decided per slot, on the real dev server, MariaDB and SeaweedFS.

A backfill of five slots starts five runs at once, and each run's one shard wakes from its
stagger at the same instant. Only an earlier slot that is past its stagger sleep and still
working counts as an overlap: Allow runs all five, Forbid runs the earliest and skips the
others naming it, Replace runs the latest and cancels the others cleanly. A real slow backup
(its upload held back by a proxy in front of SeaweedFS) still running when the next slot
starts is skipped over (Forbid) or replaced (Replace).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from datapath.faulty_proxy import FaultyProxy
from fixtures.e2e_stack import S3_KEY_ENV, S3_SECRET_ENV, Stack, write_schedule_with
from fixtures.e2e_stack import stack as stack
from shardkeeper import naming
from shardkeeper.activities.executor.base import JobState
from shardkeeper.activities.executor.local import LocalExecutor
from shardkeeper.activities.executor.local_runner import CANCELLED_MARKER
from shardkeeper.contracts import names
from shardkeeper.contracts.backup import BackupRunResult, Outcome
from shardkeeper.control import demo, progress, schedules
from shardkeeper.datapath.stores.catalog import list_backups
from shardkeeper.spec.load import load
from shardkeeper.spec.validate import check_references
from shardkeeper.workflows import search

pytestmark = pytest.mark.e2e

KEYSPACE, SHARD = "commerce", "-"
ONE_SHARD = [{"name": "one", "scope": "Shard", "keyspace": KEYSPACE, "shard": SHARD}]


def daily_slots(count: int) -> list[datetime]:
    """``count`` past 02:00 UTC slots of the demo cron, earliest first (none today's)."""
    last = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=2, minute=0, second=0, microsecond=0)
    return [last - timedelta(days=i) for i in reversed(range(count))]


async def apply_schedule(stack: Stack, directory: Path, name: str, **spec: Any) -> None:
    """One-shard logical schedule (fast and light), applied on the stack's task queue."""
    files = write_schedule_with(directory, stack, name, engine="logical",
                                databases=[KEYSPACE], strategies=ONE_SHARD, **spec)
    specs = load(files)
    check_references(specs)
    await schedules.apply(stack.client, specs, stack.task_queue)


async def backfill(stack: Stack, name: str, slots: list[datetime]) -> None:
    """One backfill request covering ``slots`` (every slot of it starts at once)."""
    await schedules.backfill(stack.client, stack.cluster.cluster, name,
                             slots[0] - timedelta(minutes=1), slots[-1] + timedelta(minutes=1))


async def runs_of(stack: Stack, name: str, count: int, timeout: float = 120) -> dict[str, Any]:
    """Results of the schedule's ``count`` BackupRuns, by backup id, once all have closed."""
    query = (f"WorkflowType = '{names.BACKUP_RUN}' AND {names.SA_SCHEDULE} = '{name}'"
             f" AND {names.SA_CLUSTER} = '{stack.cluster.cluster}'")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    ids: list[str] = []
    while loop.time() < deadline:
        ids = [w.id async for w in stack.client.list_workflows(query)]
        if len(ids) >= count:
            break
        await asyncio.sleep(0.5)
    assert len(ids) == count, ids
    results = await asyncio.wait_for(asyncio.gather(*(
        stack.client.get_workflow_handle(i, result_type=BackupRunResult).result()
        for i in ids)), timeout=max(1.0, deadline - loop.time()))
    return {r.backup_id: r.shards[0] for r in results}


async def shard_statuses(stack: Stack, name: str) -> dict[str, WorkflowExecutionStatus | None]:
    """Each ShardBackup of the schedule: backup id → its execution status."""
    query = f"WorkflowType = '{names.SHARD_BACKUP}' AND {names.SA_SCHEDULE} = '{name}'"
    out: dict[str, WorkflowExecutionStatus | None] = {}
    async for w in stack.client.list_workflows(query):
        desc = await stack.client.get_workflow_handle(w.id).describe()
        backup_id = desc.typed_search_attributes.get(search.BACKUP_ID)
        out[str(backup_id)] = desc.status
    return out


def committed(stack: Stack) -> set[str]:
    """Backup ids with a metadata.json for the shard (read from the bucket)."""
    return {m.backup_id for m in list_backups(stack.location, stack.cluster.cluster)
            if (m.keyspace, m.shard) == (KEYSPACE, SHARD)}


async def assert_clean(stack: Stack, name: str) -> None:
    """No open multipart upload and no agent job of the schedule still running."""
    s3 = stack.seaweed.client()
    assert s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", []) == []
    labels = naming.job_labels(stack.cluster.cluster, name, KEYSPACE, SHARD)
    jobs = await LocalExecutor(stack.jobs_dir).list(labels)
    assert [j.name for j in jobs if j.state == JobState.RUNNING] == []


@pytest.fixture
def isolated_bucket(stack: Stack) -> Iterator[None]:
    """Each test counts only its own backups: a fresh bucket for the stack's location."""

    previous = stack.bucket
    stack.bucket = f"ov-{uuid.uuid4().hex[:12]}"
    stack.seaweed.create_bucket(stack.bucket)
    yield
    stack.bucket = previous


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("isolated_bucket")
async def test_backfill_allow_runs_every_slot(stack: Stack, tmp_path: Path) -> None:
    name, slots = f"ov-allow-{uuid.uuid4().hex[:6]}", daily_slots(5)
    await apply_schedule(stack, tmp_path, name, concurrencyPolicy="Allow")
    await backfill(stack, name, slots)
    results = await runs_of(stack, name, 5)
    ids = {naming.backup_id_for(s) for s in slots}
    assert set(results) == ids
    assert {r.outcome for r in results.values()} == {Outcome.SUCCEEDED}
    assert committed(stack) == ids, "five committed backups of the shard in the bucket"


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("isolated_bucket")
async def test_backfill_forbid_runs_the_earliest_and_skips_the_others(
    stack: Stack, tmp_path: Path,
) -> None:
    name, slots = f"ov-forbid-{uuid.uuid4().hex[:6]}", daily_slots(5)
    await apply_schedule(stack, tmp_path, name, concurrencyPolicy="Forbid")
    await backfill(stack, name, slots)
    results = await runs_of(stack, name, 5)
    earliest, *later = sorted(results)
    assert results[earliest].outcome == Outcome.SUCCEEDED, results[earliest].reason
    for backup_id in later:
        r = results[backup_id]
        assert r.outcome == Outcome.SKIPPED, (backup_id, r)
        assert f"slot {earliest} holds the shard" in (r.reason or ""), r.reason
    assert committed(stack) == {earliest}


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("isolated_bucket")
async def test_backfill_replace_runs_the_latest_and_cancels_the_others_cleanly(
    stack: Stack, tmp_path: Path,
) -> None:
    name, slots = f"ov-replace-{uuid.uuid4().hex[:6]}", daily_slots(5)
    await apply_schedule(stack, tmp_path, name, concurrencyPolicy="Replace")
    await backfill(stack, name, slots)
    results = await runs_of(stack, name, 5)
    *earlier, latest = sorted(results)
    assert results[latest].outcome == Outcome.SUCCEEDED, results[latest].reason
    statuses = await shard_statuses(stack, name)
    assert {statuses[b] for b in earlier} == {WorkflowExecutionStatus.CANCELED}, statuses
    assert committed(stack) == {latest}
    await assert_clean(stack, name)


HOLD_SECONDS = 40
"""The longest the proxy holds the slow backup's upload (released earlier by the test)."""


class HeldUpload:
    """A proxy rule holding the first upload request (PUT) until released: a slow backup.

    The rule runs on the proxy's event loop, so while it holds, every other request through
    the proxy (the abort of a cancelled upload too) waits behind it: the test releases it
    once the next slot has decided, and in any case after ``HOLD_SECONDS``.
    """

    def __init__(self) -> None:
        self.armed = threading.Event()  # set once ``apply`` is done (it may write objects)
        self.held = threading.Event()
        self.release = threading.Event()

    def __call__(self, method: str, _path: str, _query: dict[str, list[str]]) -> bool:
        if method == "PUT" and self.armed.is_set() and not self.held.is_set():
            self.held.set()
            self.release.wait(HOLD_SECONDS)
        return False


@pytest.fixture
def held_upload(stack: Stack) -> Iterator[tuple[HeldUpload, str]]:
    """A rule holding the first upload, and the endpoint of a proxy to SeaweedFS using it."""
    rule = HeldUpload()
    proxy = FaultyProxy(stack.seaweed.endpoint, rule).start()
    try:
        yield rule, proxy.endpoint
    finally:
        rule.release.set()
        proxy.stop()


def destination_through(stack: Stack, endpoint: str) -> dict[str, Any]:
    """The stack's destination (bucket, prefix, credentials) reached through ``endpoint``."""
    doc = demo.schedule_document(
        cluster=stack.cluster.cluster, endpoint=endpoint, bucket=stack.bucket, name="proxy",
        access_key_env=S3_KEY_ENV, secret_key_env=S3_SECRET_ENV)
    return dict(doc["spec"]["destination"])


async def slow_first_slot(stack: Stack, tmp_path: Path, name: str, policy: str,
                          held: tuple[HeldUpload, str]) -> str:
    """Apply a paused schedule uploading through the proxy, trigger a slot, wait until its
    upload is held; returns that slot's BackupRun workflow id."""
    rule, endpoint = held
    await apply_schedule(stack, tmp_path, name, concurrencyPolicy=policy,
                         destination=destination_through(stack, endpoint))
    await schedules.pause(stack.client, stack.cluster.cluster, name, "slots by trigger only")
    rule.armed.set()
    await schedules.trigger(stack.client, stack.cluster.cluster, name)
    first = await progress.latest_run(stack.client, stack.cluster.cluster, name)
    assert await asyncio.to_thread(rule.held.wait, 60), "the first backup never uploaded"
    await asyncio.sleep(1.1)  # backup ids have a one-second resolution: the next is later
    await schedules.trigger(stack.client, stack.cluster.cluster, name)
    return first.id


async def cancel_requested(stack: Stack, name: str, backup_id: str, timeout: float = 30) -> None:
    """Wait until the ShardBackup of ``backup_id`` has been asked to cancel (by Replace)."""
    query = (f"WorkflowType = '{names.SHARD_BACKUP}' AND {names.SA_SCHEDULE} = '{name}'"
             f" AND {names.SA_BACKUP_ID} = '{backup_id}'")
    requested = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        async for w in stack.client.list_workflows(query):
            history = await stack.client.get_workflow_handle(w.id).fetch_history()
            if any(e.event_type == requested for e in history.events):
                return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the backup of slot {backup_id} was never asked to cancel")


async def job_cancelling(stack: Stack, name: str, timeout: float = 45) -> None:
    """Wait until the executor was told to stop the schedule's running agent job.

    Only then is the held upload let through: released earlier, the tiny dump could finish
    and commit before the cancellation reaches the agent.
    """
    labels = naming.job_labels(stack.cluster.cluster, name, KEYSPACE, SHARD)
    executor = LocalExecutor(stack.jobs_dir)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        jobs = await executor.list(labels)
        if any((executor.job_dir(j.name) / CANCELLED_MARKER).exists() for j in jobs):
            await asyncio.sleep(1)  # the marker comes just before the SIGTERM
            return
        await asyncio.sleep(0.5)
    raise AssertionError("the replaced backup's agent job was never cancelled")


async def first_backup_id(stack: Stack, run_id: str) -> str:
    """The backup id of a BackupRun (its search attribute)."""
    desc = await stack.client.get_workflow_handle(run_id).describe()
    return str(desc.typed_search_attributes.get(search.BACKUP_ID))


@pytest.mark.timeout(90)
@pytest.mark.usefixtures("isolated_bucket")
async def test_forbid_skips_the_next_slot_while_a_slow_backup_still_runs(
    stack: Stack, tmp_path: Path, held_upload: tuple[HeldUpload, str],
) -> None:
    name, cluster = f"ov-slow-f-{uuid.uuid4().hex[:6]}", stack.cluster.cluster
    first = await first_backup_id(
        stack, await slow_first_slot(stack, tmp_path, name, "Forbid", held_upload))
    second = await progress.latest_run(stack.client, cluster, name, after=1)
    [skipped] = (await asyncio.wait_for(second.result(), timeout=45)).shards
    assert skipped.outcome == Outcome.SKIPPED, skipped
    assert f"slot {first} holds the shard" in (skipped.reason or ""), skipped.reason
    held_upload[0].release.set()  # the slow backup goes on and commits
    results = await runs_of(stack, name, 2, timeout=60)
    assert results[first].outcome == Outcome.SUCCEEDED, results[first].reason
    assert committed(stack) == {first}
    await assert_clean(stack, name)


@pytest.mark.timeout(90)
@pytest.mark.usefixtures("isolated_bucket")
async def test_replace_cancels_a_slow_backup_cleanly_when_the_next_slot_starts(
    stack: Stack, tmp_path: Path, held_upload: tuple[HeldUpload, str],
) -> None:
    name = f"ov-slow-r-{uuid.uuid4().hex[:6]}"
    first = await first_backup_id(
        stack, await slow_first_slot(stack, tmp_path, name, "Replace", held_upload))
    await cancel_requested(stack, name, first)
    await job_cancelling(stack, name)
    held_upload[0].release.set()  # let the cancelled backup abort its upload through the proxy
    results = await runs_of(stack, name, 2, timeout=60)
    [latest] = [b for b in results if b != first]
    assert latest > first
    assert results[latest].outcome == Outcome.SUCCEEDED, results[latest].reason
    statuses = await shard_statuses(stack, name)
    assert statuses[first] == WorkflowExecutionStatus.CANCELED, statuses
    assert committed(stack) == {latest}
    await assert_clean(stack, name)
