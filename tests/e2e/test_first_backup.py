"""firstBackup: immediate: applying a schedule backs up now the shards that have no backup.

KubeStash takes a backup as soon as its configuration is ready; a new schedule here would
otherwise leave every shard unprotected until its first slot (up to a day). Real Temporal dev
server, SeaweedFS, mariadbd and mariadb-backup. What is checked is the bucket and the
Temporal Schedule, not only the run's own result.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.service import RPCError, RPCStatusCode
from typer.testing import CliRunner

from fixtures.e2e_stack import Stack, cluster_file_without, write_schedule_with
from fixtures.e2e_stack import stack as stack
from shardkeeper import naming
from shardkeeper.cli.app import app
from shardkeeper.contracts.backup import BackupRunResult, Outcome
from shardkeeper.control import schedules, status
from shardkeeper.datapath.stores.catalog import list_backups
from shardkeeper.errors import SpecInvalid
from shardkeeper.spec.load import load
from shardkeeper.spec.validate import check_references

pytestmark = pytest.mark.e2e
ALL_SHARDS = {("commerce", "-"), ("customer", "-80"), ("customer", "80-")}


@pytest_asyncio.fixture(loop_scope="session")
async def created(stack: Stack) -> AsyncIterator[list[str]]:
    """Names of the schedules a test creates; each one is deleted afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(SpecInvalid):
            await schedules.delete(stack.client, stack.cluster.cluster, name)


async def _apply(stack: Stack, files: list[Path]) -> list[schedules.Applied]:
    specs = load(files)
    check_references(specs)
    return await schedules.apply(stack.client, specs, stack.task_queue)


async def _first_run(stack: Stack, applied: schedules.Applied) -> BackupRunResult:
    assert applied.first_backup is not None, "firstBackup: immediate starts a run at apply"
    handle = stack.client.get_workflow_handle(applied.first_backup, result_type=BackupRunResult)
    return await asyncio.wait_for(handle.result(), timeout=240)


def _own_backups(stack: Stack, name: str) -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for m in list_backups(stack.location, stack.cluster.cluster):
        if m.schedule == name:
            assert not m.is_manual(), "a first backup is the schedule's, pruned by its rules"
            found.setdefault((m.keyspace, m.shard), []).append(m.backup_id)
    return found


async def test_apply_backs_up_shards_without_a_backup_once_and_a_reshard_adds_one(
    stack: Stack, tmp_path: Path, created: list[str]
) -> None:
    name = f"first-{uuid.uuid4().hex[:6]}"
    created.append(name)
    smaller = cluster_file_without(stack, tmp_path / "before", "customer", "80-")
    schedule_file = write_schedule_with(tmp_path, stack, name, firstBackup="immediate")[1]

    (applied,) = await _apply(stack, [smaller, schedule_file])
    first = await _first_run(stack, applied)
    assert {(s.keyspace, s.shard) for s in first.shards} == ALL_SHARDS - {("customer", "80-")}
    assert all(s.outcome == Outcome.SUCCEEDED for s in first.shards), first.shards
    backups = _own_backups(stack, name)
    assert set(backups) == ALL_SHARDS - {("customer", "80-")}
    assert all(len(ids) == 1 for ids in backups.values()), backups

    # applied again (a GitOps sync): nothing is backed up twice
    (again,) = await _apply(stack, [smaller, schedule_file])
    assert again.action == "updated" and again.first_backup == applied.first_backup
    second = await _first_run(stack, again)
    assert second.shards == ()
    assert {(s.keyspace, s.shard) for s in second.skipped} == set(backups)
    assert all("has committed backup" in s.reason for s in second.skipped), second.skipped
    assert _own_backups(stack, name) == backups

    # the reshard: the Cluster document alone, through the CLI; only the new shard runs
    result = await asyncio.to_thread(CliRunner().invoke, app, ["apply", "-f", str(
        stack.files[0])], env={"TEMPORAL_ADDRESS": stack.temporal.address,
                               "TEMPORAL_NAMESPACE": stack.temporal.namespace})
    assert result.exit_code == 0, result.output
    first_id = naming.first_backup_workflow_id(stack.cluster.cluster, name)
    assert f"first backup of shards without one: workflow {first_id}" in result.output
    third = await _first_run(stack, schedules.Applied(name, applied.schedule_id, "x", first_id))
    assert [(s.keyspace, s.shard, s.outcome) for s in third.shards] == [
        ("customer", "80-", Outcome.SUCCEEDED)]
    after = _own_backups(stack, name)
    assert set(after) == ALL_SHARDS and all(len(ids) == 1 for ids in after.values()), after

    # none of it was a scheduled action: the Schedule itself has not fired
    desc = await stack.client.get_schedule_handle(applied.schedule_id).describe()
    assert desc.info.num_actions == 0
    # describe schedule shows the first-backup runs as the schedule's runs
    detail = await status.describe(stack.client, stack.cluster.cluster, name)
    assert detail.summary.last_run is not None
    assert {(s.keyspace, s.shard, s.last_outcome) for s in detail.shards} == {
        ("customer", "80-", "succeeded")}, "the newest finished run's results"


async def test_next_slot_and_suspended_schedules_start_nothing_at_apply(
    stack: Stack, tmp_path: Path, created: list[str]
) -> None:
    waiting, paused = f"later-{uuid.uuid4().hex[:6]}", f"paused-{uuid.uuid4().hex[:6]}"
    created += [waiting, paused]
    (a,) = await _apply(stack, write_schedule_with(tmp_path, stack, waiting,
                                                   firstBackup="next-slot"))
    (b,) = await _apply(stack, write_schedule_with(tmp_path, stack, paused,
                                                   firstBackup="immediate", suspend=True))
    assert a.first_backup is None and b.first_backup is None
    for name in (waiting, paused):
        wid = naming.first_backup_workflow_id(stack.cluster.cluster, name)
        with pytest.raises(RPCError) as missing:  # read from the history, not visibility
            await stack.client.get_workflow_handle(wid).describe()
        assert missing.value.status == RPCStatusCode.NOT_FOUND, f"{name} started a run"
    assert _own_backups(stack, waiting) == {} and _own_backups(stack, paused) == {}
