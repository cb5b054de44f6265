"""Activities that ask Temporal about other workflows: overlap and the cluster budget.

Workflow code cannot query visibility or start another workflow with a signal, so these
thin activities do it with the worker's own client (``activity.client()``).
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from shardkeeper.contracts import names
from shardkeeper.contracts.budget import (
    ClusterBudgetState,
    FindRunningBackupsInput,
    FindRunningBackupsResult,
    RequestLeaseInput,
    RunningWorkflowsInput,
    RunningWorkflowsResult,
)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@activity.defn(name=names.FIND_RUNNING_BACKUPS)
async def find_running_backups(inp: FindRunningBackupsInput) -> FindRunningBackupsResult:
    """Running ShardBackup workflows of the same schedule and shard (except the caller)."""
    query = (
        f"WorkflowType = {_quote(names.SHARD_BACKUP)} AND ExecutionStatus = 'Running'"
        f" AND {names.SA_CLUSTER} = {_quote(inp.cluster)}"
        f" AND {names.SA_SCHEDULE} = {_quote(inp.schedule)}"
        f" AND {names.SA_KEYSPACE} = {_quote(inp.keyspace)}"
        f" AND {names.SA_SHARD} = {_quote(inp.shard)}"
    )
    ids = [w.id async for w in activity.client().list_workflows(query)
           if w.id != inp.exclude_workflow_id]
    return FindRunningBackupsResult(workflow_ids=tuple(sorted(ids)))


@activity.defn(name=names.REQUEST_LEASE)
async def request_lease(inp: RequestLeaseInput) -> None:
    """Ask the cluster's budget for a lease, starting the budget workflow if needed."""
    await activity.client().start_workflow(
        names.CLUSTER_BUDGET,
        ClusterBudgetState(cluster=inp.cluster),
        id=inp.budget_workflow_id,
        task_queue=inp.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=names.SIGNAL_REQUEST_LEASE,
        start_signal_args=[inp.request],
    )


@activity.defn(name=names.RUNNING_WORKFLOWS)
async def running_workflows(inp: RunningWorkflowsInput) -> RunningWorkflowsResult:
    """Which of the given workflow ids still run (a missing one counts as not running)."""
    client = activity.client()
    running = []
    for wid in inp.workflow_ids:
        try:
            desc = await client.get_workflow_handle(wid).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                continue
            raise
        if desc.status == WorkflowExecutionStatus.RUNNING:
            running.append(wid)
    return RunningWorkflowsResult(running=tuple(running))
