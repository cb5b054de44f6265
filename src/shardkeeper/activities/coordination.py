"""Activities that ask Temporal about other workflows: overlap and the cluster budget.

Workflow code cannot query visibility or start another workflow with a signal, so these
thin activities do it with the worker's own client (``activity.client()``).

Overlap is decided per slot. A ShardBackup past its stagger sleep claims its shard by
upserting ``ShardkeeperPhase=working`` (and ``ShardkeeperStrategy``); it then asks
``find_running_backups`` for *running, working* ShardBackups of the same cluster, schedule,
strategy, keyspace and shard whose backup id is smaller, i.e. an earlier slot (backup ids are
``YYYYMMDDTHHMMSSZ[-suffix]``, so they sort by nominal time). Children still sleeping in
their stagger never count, nor do later slots, nor other strategies. The id comparison is
made here, not in the query, so it does not depend on the visibility store's ordering of
Keyword values.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey, WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from shardkeeper.contracts import names
from shardkeeper.contracts.budget import (
    ClusterBudgetState,
    FindRunningBackupsInput,
    FindRunningBackupsResult,
    RequestLeaseInput,
    RunningBackup,
    RunningWorkflowsInput,
    RunningWorkflowsResult,
)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_BACKUP_ID = SearchAttributeKey.for_keyword(names.SA_BACKUP_ID)


@activity.defn(name=names.FIND_RUNNING_BACKUPS)
async def find_running_backups(inp: FindRunningBackupsInput) -> FindRunningBackupsResult:
    """Running ShardBackups of the same schedule and shard (except the caller).

    With ``earlier_than``: only those of ``strategy`` that claimed the shard and belong to an
    earlier slot, earliest first (see the module docstring).
    """
    query = (
        f"WorkflowType = {_quote(names.SHARD_BACKUP)} AND ExecutionStatus = 'Running'"
        f" AND {names.SA_CLUSTER} = {_quote(inp.cluster)}"
        f" AND {names.SA_SCHEDULE} = {_quote(inp.schedule)}"
        f" AND {names.SA_KEYSPACE} = {_quote(inp.keyspace)}"
        f" AND {names.SA_SHARD} = {_quote(inp.shard)}"
    )
    if inp.strategy is not None:
        query += f" AND {names.SA_STRATEGY} = {_quote(inp.strategy)}"
    if inp.earlier_than is not None:
        query += f" AND {names.SA_PHASE} = {_quote(names.PHASE_WORKING)}"
    found: list[RunningBackup] = []
    async for w in activity.client().list_workflows(query):
        if w.id == inp.exclude_workflow_id:
            continue
        backup_id = w.typed_search_attributes.get(_BACKUP_ID) or ""
        if inp.earlier_than is not None and not (backup_id and backup_id < inp.earlier_than):
            continue
        found.append(RunningBackup(workflow_id=w.id, backup_id=backup_id))
    found.sort(key=lambda b: (b.backup_id, b.workflow_id))
    return FindRunningBackupsResult(
        workflow_ids=tuple(sorted(b.workflow_id for b in found)), backups=tuple(found)
    )


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
