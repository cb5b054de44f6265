"""Missed runs: ``startingDeadlineSeconds`` over a worker outage.

A worker outage is not a missed run to Temporal (the server starts the run on time and it
waits for a worker), so ShardBackup enforces the deadline itself: the run's shard is skipped
with the reason ``missed``. A server outage past the deadline is Temporal's own catch-up
window and is not tested here: the dev server restarted on its SQLite file does not show it
reliably (seen: its scheduler re-created at the restart with the slot dropped uncounted, or
no action for 45 s), so a test of it could only assert that nothing happened.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from fixtures.e2e_stack import Stack, write_schedule_with
from fixtures.e2e_stack import stack as stack
from shardkeeper.contracts.backup import Outcome
from shardkeeper.control import progress, schedules
from shardkeeper.datapath.stores.catalog import list_backups
from shardkeeper.spec.load import SpecSet, load
from shardkeeper.spec.validate import check_references
from shardkeeper.worker.main import running_worker
from shardkeeper.worker.settings import WorkerSettings

pytestmark = pytest.mark.e2e

DEADLINE_SECONDS = 10  # the smallest the spec (and Temporal's catch-up window) allows
ONE_SHARD = [{"name": "one", "scope": "Shard", "keyspace": "commerce", "shard": "-"}]


def schedule_specs(stack: Stack, directory: Path, name: str) -> SpecSet:
    """A one-shard logical schedule every minute with the smallest starting deadline."""
    files = write_schedule_with(
        directory, stack, name, engine="logical", databases=["commerce"], strategies=ONE_SHARD,
        schedule=None, frequency="1m", startingDeadlineSeconds=DEADLINE_SECONDS,
    )
    specs = load(files)
    check_references(specs)
    return specs


@pytest.mark.timeout(120)
async def test_a_worker_outage_past_the_deadline_skips_the_shard_as_missed(
    stack: Stack, tmp_path: Path,
) -> None:
    name, queue = f"missed-w-{uuid.uuid4().hex[:6]}", f"missed-{uuid.uuid4()}"
    cluster = stack.cluster.cluster
    # applied on a queue no worker polls yet: the worker is down
    await schedules.apply(stack.client, schedule_specs(stack, tmp_path, name), queue)
    # a server outage longer than the deadline is Temporal's catch-up window to count
    described = await stack.client.get_schedule_handle(
        schedules.handle_id(cluster, name)).describe()
    assert described.schedule.policy.catchup_window == timedelta(seconds=DEADLINE_SECONDS)
    await schedules.pause(stack.client, cluster, name, "only the triggered run")
    await schedules.trigger(stack.client, cluster, name)  # a run due now, like a slot
    run = await progress.latest_run(stack.client, cluster, name)
    await asyncio.sleep(DEADLINE_SECONDS + 4)  # the server started it; nobody works on it
    async with running_worker(stack.client, WorkerSettings(task_queue=queue,
                                                           jobs_dir=stack.jobs_dir)):
        result = await asyncio.wait_for(run.result(), timeout=60)
    [shard] = result.shards
    assert shard.outcome == Outcome.SKIPPED, shard
    assert (shard.reason or "").startswith("missed"), shard.reason
    assert f"startingDeadlineSeconds {DEADLINE_SECONDS}" in (shard.reason or "")
    assert result.backup_id not in {m.backup_id for m in list_backups(stack.location, cluster)}
