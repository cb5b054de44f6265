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
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus

from fixtures.e2e_stack import Stack, write_schedule_with
from fixtures.e2e_stack import stack as stack
from shardkeeper import naming
from shardkeeper.activities.executor.base import JobState
from shardkeeper.activities.executor.local import LocalExecutor
from shardkeeper.contracts import names
from shardkeeper.contracts.backup import BackupRunResult, Outcome
from shardkeeper.control import schedules
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
