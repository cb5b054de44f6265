"""The cluster-wide concurrency budget (``maxConcurrentShards``) as leases.

One ``ClusterBudget`` entity workflow per cluster grants leases to ShardBackup workflows of
every schedule of that cluster, so the limit holds across schedules, runs and worker
restarts (a worker-local semaphore would not survive two workers).
"""

from __future__ import annotations

from shardkeeper.contracts.base import Contract


class LeaseRequest(Contract):
    """A holder (a workflow id) asks for one of ``limit`` concurrent slots."""

    holder: str
    """Workflow id of the ShardBackup asking for a slot."""
    limit: int
    """The cluster's budget as the holder's schedule declares it."""


class ClusterBudgetState(Contract):
    """Input of ``ClusterBudget``; also carried across continue-as-new."""

    cluster: str
    """Cluster name."""
    holders: tuple[str, ...] = ()
    """Workflow ids holding a lease now."""
    queue: tuple[LeaseRequest, ...] = ()
    """Requests waiting for a slot, first come first served."""


class ClusterBudgetStatus(Contract):
    """Answer of the ``status`` query."""

    holders: tuple[str, ...]
    """Workflow ids holding a lease now."""
    waiting: tuple[str, ...]
    """Workflow ids waiting for a lease, in grant order."""


class RequestLeaseInput(Contract):
    """Input of the ``request_lease`` activity (signal-with-start of the budget workflow)."""

    cluster: str
    """Cluster name."""
    budget_workflow_id: str
    """Workflow id of the cluster's ClusterBudget."""
    task_queue: str
    """Task queue the budget workflow is started on when absent."""
    request: LeaseRequest
    """The lease asked for."""


class RunningWorkflowsInput(Contract):
    """Input of ``running_workflows``: which of these workflow ids are still running."""

    workflow_ids: tuple[str, ...]
    """Workflow ids to check."""


class RunningWorkflowsResult(Contract):
    """The subset still running."""

    running: tuple[str, ...]
    """Those whose latest run is still open."""


class FindRunningBackupsInput(Contract):
    """Input of ``find_running_backups`` (visibility query).

    Without ``earlier_than`` (runs recorded before overlap was decided per slot) it matches
    every running ShardBackup of the schedule and shard. With it, only those of ``strategy``
    that have claimed the shard (``ShardkeeperPhase=working``: past their stagger sleep)
    and belong to an earlier slot (a smaller backup id) match.
    """

    cluster: str
    """Cluster name."""
    schedule: str
    """Schedule name."""
    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    exclude_workflow_id: str
    """The asking workflow, left out of the answer."""
    strategy: str | None = None
    """Only backups of this strategy; None: any strategy (the old behaviour)."""
    earlier_than: str | None = None
    """Only working backups whose backup id sorts before this one (the asker's slot)."""


class RunningBackup(Contract):
    """One ShardBackup the overlap query found."""

    workflow_id: str
    """Its workflow id."""
    backup_id: str
    """Its slot's backup id (``YYYYMMDDTHHMMSSZ``; sorts by nominal time)."""


class FindRunningBackupsResult(Contract):
    """Running ShardBackup workflows of the same schedule and shard."""

    workflow_ids: tuple[str, ...] = ()
    """Workflow ids of the running backups found."""
    backups: tuple[RunningBackup, ...] = ()
    """The same backups with their slots, earliest slot first."""
