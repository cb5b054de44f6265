"""Follow a BackupRun: its children, their phases, and the final result."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, WorkflowHandle
from temporalio.service import RPCError

from shardkeeper import naming
from shardkeeper.contracts.backup import BackupRunProgress, BackupRunResult


@dataclass(frozen=True)
class ShardRow:
    """One line of a run's live view."""

    keyspace: str
    shard: str
    strategy: str
    offset_seconds: int
    phase: str


async def latest_run(client: Client, cluster: str, schedule: str, *, after: int = 0,
                     wait_seconds: float = 60) -> WorkflowHandle[object, BackupRunResult]:
    """The workflow of the schedule's newest action once it has more than ``after`` actions."""
    handle = client.get_schedule_handle(naming.schedule_id(cluster, schedule))
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        desc = await handle.describe()
        actions = desc.info.recent_actions
        if desc.info.num_actions > after and actions:
            action = actions[-1].action
            if isinstance(action, ScheduleActionExecutionStartWorkflow):
                return client.get_workflow_handle(action.workflow_id,
                                                  result_type=BackupRunResult)
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"schedule {handle.id} started no run within {wait_seconds:.0f}s")
        await asyncio.sleep(0.5)


async def snapshot(client: Client, run: WorkflowHandle[object, BackupRunResult]) -> list[ShardRow]:
    """Per-shard phases of a run right now."""
    progress = await run.query("progress", result_type=BackupRunProgress)
    rows = []
    for p in progress.planned:
        try:
            phase = await client.get_workflow_handle(p.workflow_id).query("phase", result_type=str)
        except RPCError:
            phase = "starting"
        rows.append(ShardRow(p.keyspace, p.shard, p.strategy, p.offset_seconds, phase))
    return rows
