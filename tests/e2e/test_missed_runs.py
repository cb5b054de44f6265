"""Missed runs: ``startingDeadlineSeconds`` over a worker outage and over a server outage.

A worker outage is not a missed run to Temporal (the server starts the run on time and it
waits for a worker), so ShardBackup enforces the deadline itself: the run's shard is skipped
with the reason ``missed``. A server outage past the deadline is Temporal's catch-up window:
the slot never starts, and the Schedule counts it as missed.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from fixtures.e2e_stack import Stack, write_schedule_with
from fixtures.e2e_stack import stack as stack
from shardkeeper import naming
from shardkeeper.contracts import names
from shardkeeper.contracts.backup import Outcome
from shardkeeper.control import progress, schedules
from shardkeeper.control.stack.temporal_server import DevServerPorts, TemporalDevServer
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


def next_minute(after: datetime) -> datetime:
    """The first whole minute after ``after`` (a ``frequency: 1m`` slot)."""
    return after.replace(second=0, microsecond=0) + timedelta(minutes=1)


@pytest.mark.timeout(150)
async def test_a_server_outage_past_the_deadline_misses_the_slot(
    stack: Stack, tmp_path: Path,
) -> None:
    # its own dev server (the session one stays up for the other tests), same SQLite file
    profile = stack.temporal.profile
    server = TemporalDevServer(tmp_path / "temporal", profile, use_free_ports=True)
    await server.start()
    try:
        client = await Client.connect(server.address, namespace=server.namespace,
                                      data_converter=pydantic_data_converter)
        name, cluster = f"missed-s-{uuid.uuid4().hex[:6]}", stack.cluster.cluster
        await schedules.apply(client, schedule_specs(stack, tmp_path, name), "missed-server")
        slot = next_minute(datetime.now(UTC) + timedelta(seconds=3))
        server.stop()
        pause = (slot - datetime.now(UTC)).total_seconds() + DEADLINE_SECONDS + 5
        await asyncio.sleep(pause)  # the slot and its deadline pass while the server is down
        ports = DevServerPorts(frontend=server.frontend_port, ui=server.ui_port,
                               http=server.http_port, metrics=server.metrics_port)
        server = TemporalDevServer(tmp_path / "temporal",
                                   profile.model_copy(update={"ports": ports}),
                                   use_free_ports=False)
        await server.start()
        client = await Client.connect(server.address, namespace=server.namespace,
                                      data_converter=pydantic_data_converter)
        handle = client.get_schedule_handle(naming.schedule_id(cluster, name))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 45
        while (missed := (await handle.describe()).info.num_actions_missed_catchup_window) < 1:
            info = (await handle.describe()).info
            assert loop.time() < deadline, f"the schedule never counted the missed slot: {info}"
            await asyncio.sleep(0.5)
        assert missed == 1
        await handle.pause(note="test over")
        query = f"WorkflowType = '{names.BACKUP_RUN}' AND {names.SA_SCHEDULE} = '{name}'"
        started = [w.id async for w in client.list_workflows(query)]
        assert not [w for w in started if slot.strftime("%Y-%m-%dT%H:%M:%S") in w], started
        assert naming.backup_id_for(slot) not in {
            m.backup_id for m in list_backups(stack.location, cluster)}
    finally:
        server.stop()
