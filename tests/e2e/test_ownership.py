"""Keyspace ownership decided when a run starts; delete schedule; the topology travels inline.

Real Temporal dev server (Schedules), SeaweedFS and mariadbd, real backups. Schedules are
applied one file at a time, the GitOps habit, and every schedule this module creates is
deleted at its end, so no Keyspace owner outlives it (the cluster is shared by the session).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from typer.testing import CliRunner, Result

from fixtures.e2e_stack import Stack, cluster_file_without, write_schedule_with
from fixtures.e2e_stack import stack as stack
from fixtures.wait import eventually
from shardkeeper import naming
from shardkeeper.activities.ownership import schedule_names
from shardkeeper.cli.app import app
from shardkeeper.contracts.backup import BackupRunResult, Outcome
from shardkeeper.control import progress, schedules
from shardkeeper.datapath.stores.catalog import list_backups
from shardkeeper.errors import SpecInvalid
from shardkeeper.spec.load import load
from shardkeeper.spec.validate import check_references

pytestmark = pytest.mark.e2e
runner = CliRunner()
ALL_SHARDS = {("commerce", "-"), ("customer", "-80"), ("customer", "80-")}
CUSTOMER_ONLY = [{"name": "customer-only", "scope": "Keyspace", "keyspace": "customer"}]


async def _cli(stack: Stack, *args: str) -> Result:
    return await asyncio.to_thread(runner.invoke, app, [*args], env={
        "TEMPORAL_ADDRESS": stack.temporal.address,
        "TEMPORAL_NAMESPACE": stack.temporal.namespace,
    })


async def _apply(stack: Stack, files: list[Path]) -> None:
    specs = load(files)
    check_references(specs)
    await schedules.apply(stack.client, specs, stack.task_queue)


async def _trigger(stack: Stack, name: str) -> BackupRunResult:
    """Trigger ``name`` and wait for the run it starts."""
    cluster = stack.cluster.cluster
    handle = stack.client.get_schedule_handle(naming.schedule_id(cluster, name))
    before = (await handle.describe()).info.num_actions
    await handle.trigger()
    run = await progress.latest_run(stack.client, cluster, name, after=before)
    return await asyncio.wait_for(run.result(), timeout=240)


def _backed_up(result: BackupRunResult) -> set[tuple[str, str]]:
    assert all(s.outcome == Outcome.SUCCEEDED for s in result.shards), result.shards
    return {(s.keyspace, s.shard) for s in result.shards}


@pytest_asyncio.fixture(loop_scope="session")
async def created(stack: Stack) -> AsyncIterator[list[str]]:
    """Names of the schedules a test creates; each one is deleted afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(SpecInvalid):  # the test deleted it itself
            await schedules.delete(stack.client, stack.cluster.cluster, name)


async def test_a_keyspace_strategy_owns_its_keyspace_while_its_schedule_is_active(
    stack: Stack, tmp_path: Path, created: list[str]
) -> None:
    suffix = uuid.uuid4().hex[:6]
    a, b = f"whole-{suffix}", f"customer-{suffix}"
    cluster = stack.cluster.cluster
    created += [a, b]
    a_files = write_schedule_with(tmp_path, stack, a)
    b_files = write_schedule_with(tmp_path, stack, b, strategies=CUSTOMER_ONLY)
    await _apply(stack, a_files)
    await _apply(stack, b_files)  # alone: A's input is never touched
    await eventually(lambda: schedule_names(stack.client, cluster), 30,
                     "the visibility store to list B", until=lambda names: b in names)

    owned = await _trigger(stack, a)
    assert _backed_up(owned) == {("commerce", "-")}
    skipped = {(s.keyspace, s.shard): s.reason for s in owned.skipped}
    assert set(skipped) == {("customer", "-80"), ("customer", "80-")}
    assert all(f"schedule {b!r}" in r and "'customer-only'" in r for r in skipped.values())

    await schedules.pause(stack.client, cluster, b, "paused by the test")
    assert _backed_up(await _trigger(stack, a)) == ALL_SHARDS, "a paused schedule owns nothing"

    await schedules.resume(stack.client, cluster, b, "resumed by the test")
    assert _backed_up(await _trigger(stack, a)) == {("commerce", "-")}

    deleted = await _cli(stack, "delete", "schedule", "-f", str(b_files[1]))
    assert deleted.exit_code == 0, deleted.output
    assert f"backupschedule/{b} deleted" in deleted.output
    after = await _trigger(stack, a)
    assert _backed_up(after) == ALL_SHARDS and not after.skipped


async def test_delete_schedule_keeps_backups_and_lets_a_started_run_finish(
    stack: Stack, tmp_path: Path, created: list[str]
) -> None:
    name, cluster = f"doomed-{uuid.uuid4().hex[:6]}", stack.cluster.cluster
    created.append(name)
    await _apply(stack, write_schedule_with(tmp_path, stack, name))
    handle = stack.client.get_schedule_handle(naming.schedule_id(cluster, name))
    await handle.trigger()
    run = await progress.latest_run(stack.client, cluster, name)

    deleted = await _cli(stack, "delete", "schedule", name, "-c", cluster)
    assert deleted.exit_code == 0, deleted.output
    result = await asyncio.wait_for(run.result(), timeout=240)
    assert _backed_up(result) == ALL_SHARDS, "the run started before the delete finished"
    stored = {(m.keyspace, m.shard) for m in list_backups(stack.location, cluster)
              if m.backup_id == result.backup_id}
    assert stored == ALL_SHARDS, "deleting a schedule leaves its backups"

    again = await _cli(stack, "delete", "schedule", name, "-c", cluster)
    assert again.exit_code == 2, again.output
    assert f"no BackupSchedule {name!r} of cluster {cluster!r}" in again.output


async def test_the_cluster_document_travels_inline_and_is_reapplied(
    stack: Stack, tmp_path: Path, created: list[str]
) -> None:
    name = f"inline-{uuid.uuid4().hex[:6]}"
    created.append(name)
    applied_from = tmp_path / "applied-from"
    cluster_file = cluster_file_without(stack, applied_from, "customer", "80-")
    schedule_file = write_schedule_with(applied_from, stack, name)[1]
    await _apply(stack, [cluster_file, schedule_file])
    shutil.rmtree(applied_from)  # the applying machine's files are gone: never needed

    smaller = await _trigger(stack, name)
    assert _backed_up(smaller) == {("commerce", "-"), ("customer", "-80")}

    # the reshard: the Cluster document alone is applied again, from somewhere else
    resharded = tmp_path / "resharded"
    resharded.mkdir()
    shutil.copy(stack.files[0], resharded / "cluster.yaml")
    applied = await _cli(stack, "apply", "-f", str(resharded / "cluster.yaml"))
    assert applied.exit_code == 0, applied.output
    assert f"backupschedule/{name} topology updated" in applied.output
    shutil.rmtree(resharded)
    assert _backed_up(await _trigger(stack, name)) == ALL_SHARDS
