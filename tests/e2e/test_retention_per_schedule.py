"""Two schedules on one shard and one bucket at the same nominal time never share a key.

The real ShardBackup workflow runs twice for the same backup id and shard: a Cluster-wide
strategy of one schedule and a Shard strategy of another. The database side is faked by name
(the fake job writes real bytes to SeaweedFS at the key the workflow chose); verification,
metadata.json, pruning and the raw-store restore lookup are the real code on real SeaweedFS.
"""

from __future__ import annotations

import os
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from fixtures.e2e_stack import S3_KEY_ENV, S3_SECRET_ENV
from fixtures.fake_activities import Scenario
from fixtures.real_storage import storage_backed
from shardkeeper import naming
from shardkeeper.contracts import names
from shardkeeper.contracts.backup import (
    BackupPolicy,
    Outcome,
    Retention,
    ShardBackupInput,
    ShardBackupResult,
)
from shardkeeper.contracts.common import CredentialRef, S3Credentials, S3Location
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.restore.resolve import resolve_backup
from shardkeeper.datapath.stores.catalog import list_backups
from shardkeeper.datapath.stores.retention import read_cleanup_record
from shardkeeper.errors import SpecInvalid
from shardkeeper.worker.interceptors import ErrorMappingInterceptor
from shardkeeper.workflows.shard_backup import ShardBackupWorkflow

RUNS = [("nightly", "all-shards"), ("customer-hot", "customer-80-")]


@pytest.fixture
def env(time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    return time_skipping_env


async def test_two_schedules_at_one_nominal_time_keep_apart(
    env: WorkflowEnvironment, seaweed: SeaweedFS, s3_bucket: str,
) -> None:
    os.environ[S3_KEY_ENV], os.environ[S3_SECRET_ENV] = seaweed.access_key, seaweed.secret_key
    location = S3Location(
        bucket=s3_bucket, prefix="shared", endpoint=seaweed.endpoint, force_path_style=True,
        credentials=S3Credentials(access_key_id=CredentialRef(env=S3_KEY_ENV),
                                  secret_access_key=CredentialRef(env=S3_SECRET_ENV)))
    sc = Scenario()
    shard = sc.topology.shards[1]
    policy = BackupPolicy(destination=location, retention=Retention(retention_days=1))
    backup_id = naming.backup_id_for(await env.get_current_time())
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[ShardBackupWorkflow],
                      activities=storage_backed(sc, seaweed, s3_bucket),
                      interceptors=[ErrorMappingInterceptor()]):
        for schedule, strategy in RUNS:
            with env.auto_time_skipping_disabled():
                result = await env.client.execute_workflow(
                    names.SHARD_BACKUP,
                    ShardBackupInput(cluster="demo", schedule=schedule, strategy=strategy,
                                     backup_id=backup_id, shard=shard,
                                     credentials=sc.topology.credentials, policy=policy),
                    id=f"{schedule}-{uuid.uuid4().hex[:6]}", task_queue=queue,
                    result_type=ShardBackupResult)
            assert result.outcome == Outcome.SUCCEEDED

    listed = list_backups(location, "demo", shard.keyspace, shard.shard)
    assert sorted((m.schedule, m.strategy) for m in listed) == sorted(RUNS)
    assert len({m.object_key for m in listed}) == 2, "one key per (schedule, strategy)"
    assert all(m.backup_id == backup_id and m.trigger == "scheduled" for m in listed)
    for schedule, strategy in RUNS:
        record = read_cleanup_record(location, "demo", shard.keyspace, shard.shard, schedule,
                                     strategy)
        assert record is not None and record["deleted"] == []
    with pytest.raises(SpecInvalid, match="customer-80-"):
        resolve_backup(location, "demo", shard.keyspace, shard.shard, backup_id)
    chosen = resolve_backup(location, "demo", shard.keyspace, shard.shard, "latest",
                            strategy="customer-80-")
    assert chosen.schedule == "customer-hot"
