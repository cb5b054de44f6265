"""maxConcurrentShards: the ClusterBudget entity workflow, observed on the real dev server.

Activities other than the budget's own are faked by name; each fake backup lasts half a
second of real time and counts how many run at once. The dev server is used rather than the
time-skipping one: waiting for a lease has no timer, and the test server's auto-skipping
jumps straight to the children's execution timeouts in that state.
"""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client
from temporalio.worker import Worker
from test_backup_run_workflow import run_input

from fixtures.fake_activities import Scenario
from shardkeeper import naming
from shardkeeper.contracts import names
from shardkeeper.contracts.backup import BackupPolicy, BackupRunResult, Outcome
from shardkeeper.contracts.budget import ClusterBudgetStatus
from shardkeeper.contracts.common import S3Location
from shardkeeper.workflows.backup_run import BackupRunWorkflow
from shardkeeper.workflows.cluster_budget import ClusterBudgetWorkflow
from shardkeeper.workflows.shard_backup import ShardBackupWorkflow


@pytest.mark.parametrize(("limit", "expected"), [(1, 1), (2, 2), (None, 3)])
async def test_max_concurrent_shards_is_never_exceeded(
    temporal_client: Client, limit: int | None, expected: int
) -> None:
    """All three shards at offset 0; the budget lets `limit` through at a time."""
    sc = Scenario(await_seconds=0.5)
    policy = BackupPolicy(destination=S3Location(bucket="bucket"), max_concurrent_shards=limit)
    cluster = f"budget-{uuid.uuid4().hex[:6]}"
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(temporal_client, task_queue=queue,
                      workflows=[BackupRunWorkflow, ShardBackupWorkflow, ClusterBudgetWorkflow],
                      activities=sc.activities()):
        result = await temporal_client.execute_workflow(
            names.BACKUP_RUN, run_input(cluster=cluster, policy=policy, stagger_window_seconds=0),
            id=f"run-{uuid.uuid4()}", task_queue=queue, result_type=BackupRunResult)
        assert {s.outcome for s in result.shards} == {Outcome.SUCCEEDED}, result.shards
        assert sc.max_in_flight == expected
        if limit:
            budget = temporal_client.get_workflow_handle(naming.budget_workflow_id(cluster))
            status = await budget.query("status", result_type=ClusterBudgetStatus)
            assert status.holders == () and status.waiting == (), "every lease was released"
            await budget.terminate("test over")
