"""Thirty simulated days of nightly backups: retention and garbage collection over time.

ShardBackup runs on the time-skipping server once a simulated day. Readiness, source and
the job are faked by name (the fake job writes real bytes into SeaweedFS); verification,
metadata.json and pruning are the real activities against the real store. The workflow's
clock drives retention, so a month passes in seconds.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

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
from shardkeeper.datapath.stores.catalog import list_backups
from shardkeeper.worker.interceptors import ErrorMappingInterceptor
from shardkeeper.workflows.shard_backup import ShardBackupWorkflow

DAYS = 30


@pytest.fixture
def env(time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    return time_skipping_env


# Thirty workflow runs in sequence: ~30 s alone, several times that on a loaded CI machine.
@pytest.mark.timeout(300)
async def test_a_month_of_nightly_backups_keeps_the_retention_window(
    env: WorkflowEnvironment, seaweed: SeaweedFS, s3_bucket: str,
) -> None:
    os.environ[S3_KEY_ENV], os.environ[S3_SECRET_ENV] = seaweed.access_key, seaweed.secret_key
    location = S3Location(
        bucket=s3_bucket, prefix="month", endpoint=seaweed.endpoint, force_path_style=True,
        credentials=S3Credentials(access_key_id=CredentialRef(env=S3_KEY_ENV),
                                  secret_access_key=CredentialRef(env=S3_SECRET_ENV)))
    sc = Scenario()
    shard = sc.topology.shards[1]
    policy = BackupPolicy(destination=location, retention=Retention(retention_days=7))
    # an abandoned upload prefix (no metadata.json): garbage once its grace period passed
    stray = naming.backup_key("month", "demo", shard.keyspace, shard.shard, "20200101T000000Z")
    seaweed.client().put_object(Bucket=s3_bucket, Key=stray, Body=b"partial")

    queue = f"tq-{uuid.uuid4()}"
    ids = []
    async with Worker(env.client, task_queue=queue, workflows=[ShardBackupWorkflow],
                      activities=storage_backed(sc, seaweed, s3_bucket),
                      interceptors=[ErrorMappingInterceptor()]):
        for _ in range(DAYS):
            now = await env.get_current_time()
            backup_id = naming.backup_id_for(now)
            # The clock moves only by the explicit env.sleep below: auto-skipping would jump
            # in the gaps between activities to whatever timeout comes next.
            with env.auto_time_skipping_disabled():
                result = await env.client.execute_workflow(
                    names.SHARD_BACKUP,
                    ShardBackupInput(cluster="demo", schedule="nightly", strategy="all",
                                     backup_id=backup_id, shard=shard,
                                     credentials=sc.topology.credentials, policy=policy),
                    id=f"day-{backup_id}-{uuid.uuid4().hex[:6]}", task_queue=queue,
                    result_type=ShardBackupResult)
            assert result.outcome == Outcome.SUCCEEDED
            ids.append(backup_id)
            await env.sleep(timedelta(days=1))

    kept = [m.backup_id for m in list_backups(location, "demo")]
    # The last run pruned with "now" = day 29: days 23..29 are within 7 days.
    assert kept == ids[-7:]
    keys = [o["Key"] for o in seaweed.client().list_objects_v2(
        Bucket=s3_bucket, Prefix="month/").get("Contents", [])]
    assert stray not in keys, "the uncommitted prefix was garbage-collected"
    backup_keys = [k for k in keys if f"/{naming.CLEANUP_DIR}/" not in k]
    assert len(backup_keys) == 2 * 7, "each kept backup: its stream and its metadata.json"
    assert len(keys) - len(backup_keys) == 1, "one last-cleanup record of the schedule"
