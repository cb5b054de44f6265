"""ShardBackup with the real readiness activities on a real shard whose replica is stopped:
the backup comes from the primary and the result says why (or, under the vitess rule, the
shard is skipped). The job, upload and manifest steps are the scenario's fakes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from fixtures.fake_activities import Scenario
from shardkeeper.activities import readiness
from shardkeeper.contracts import names
from shardkeeper.contracts.backup import (
    BackupPolicy,
    Outcome,
    Readiness,
    ShardBackupInput,
    ShardBackupResult,
)
from shardkeeper.contracts.common import S3Location, Topology
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.spec.convert import topology_of
from shardkeeper.spec.load import load
from shardkeeper.workflows.shard_backup import ShardBackupWorkflow

REAL = {names.CHECK_SHARD_READINESS, names.CHOOSE_SOURCE}


@pytest.fixture
def env(time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    return time_skipping_env


@pytest.fixture
def stopped_replica(mariadb_cluster: MariaDBCluster) -> Iterator[str]:
    """customer/80-'s only replica with replication stopped (restarted afterwards)."""
    replica = mariadb_cluster.replicas("customer", "80-")[0]
    with mariadb_cluster.connect(replica) as conn, conn.cursor() as cur:
        cur.execute("STOP SLAVE")
    yield replica.name
    with mariadb_cluster.connect(replica) as conn, conn.cursor() as cur:
        cur.execute("START SLAVE")
    mariadb_cluster.wait_replicas_caught_up(instances=[replica])


async def _run(env: WorkflowEnvironment, topo: Topology, rule: Readiness) -> ShardBackupResult:
    sc = Scenario(topology=topo)
    fakes = [a for a in sc.activities()
             if activity._Definition.must_from_callable(a).name not in REAL]
    shard = next(s for s in topo.shards if (s.keyspace, s.shard) == ("customer", "80-"))
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[ShardBackupWorkflow],
                      activities=[*fakes, readiness.check_shard_readiness,
                                  readiness.choose_source]):
        return await env.client.execute_workflow(
            names.SHARD_BACKUP,
            ShardBackupInput(
                cluster="demo", schedule="nightly", strategy="all",
                backup_id="20261122T020000Z", shard=shard, credentials=topo.credentials,
                policy=BackupPolicy(destination=S3Location(bucket="bucket"), readiness=rule)),
            id=f"src-{uuid.uuid4().hex[:8]}", task_queue=queue, result_type=ShardBackupResult)


async def test_a_stopped_replica_backs_up_from_the_primary_and_says_why(
    env: WorkflowEnvironment, mariadb_cluster: MariaDBCluster, stopped_replica: str,
) -> None:
    assert mariadb_cluster.cluster_yaml is not None
    topo = topology_of(load([mariadb_cluster.cluster_yaml]).clusters["demo"].resource)  # type: ignore[arg-type]
    primary = mariadb_cluster.primary("customer", "80-").name

    result = await _run(env, topo, "source")
    assert result.outcome == Outcome.SUCCEEDED, result.reason
    assert result.source_instance == primary
    assert result.source_reason == (
        f"primary {primary}: no healthy replica (fallback of prefer-replica): "
        f"replica {stopped_replica}: replication stopped (io=No, sql=No)")

    strict = await _run(env, topo, "all-tablets")
    assert strict.outcome == Outcome.SKIPPED
    assert f"replica {stopped_replica}: replication stopped" in (strict.reason or "")
