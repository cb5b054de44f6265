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
    limit: int


class ClusterBudgetState(Contract):
    """Input of ``ClusterBudget``; also carried across continue-as-new."""

    cluster: str
    holders: tuple[str, ...] = ()
    queue: tuple[LeaseRequest, ...] = ()


class ClusterBudgetStatus(Contract):
    """Answer of the ``status`` query."""

    holders: tuple[str, ...]
    waiting: tuple[str, ...]


class RequestLeaseInput(Contract):
    """Input of the ``request_lease`` activity (signal-with-start of the budget workflow)."""

    cluster: str
    budget_workflow_id: str
    task_queue: str
    request: LeaseRequest


class RunningWorkflowsInput(Contract):
    """Input of ``running_workflows``: which of these workflow ids are still running."""

    workflow_ids: tuple[str, ...]


class RunningWorkflowsResult(Contract):
    """The subset still running."""

    running: tuple[str, ...]


class FindRunningBackupsInput(Contract):
    """Input of ``find_running_backups`` (visibility query)."""

    cluster: str
    schedule: str
    keyspace: str
    shard: str
    exclude_workflow_id: str


class FindRunningBackupsResult(Contract):
    """Running ShardBackup workflows of the same schedule and shard."""

    workflow_ids: tuple[str, ...] = ()
