"""A private one-shard cluster (primary + replica), a bucket and a worker for restore tests.

Restores stop and restart instances, so these tests never touch the session-wide demo
cluster. Every mariadbd a test or a restore (re)started is shut down at teardown.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client

from restore.support import (
    KEYSPACE,
    PASSWORD_ENV,
    S3_KEY_ENV,
    S3_SECRET_ENV,
    SHARD,
    RestoreStack,
    stop_all,
)
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.worker.main import running_worker
from shardkeeper.worker.settings import WorkerSettings


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def rstack(
    tmp_path_factory: pytest.TempPathFactory, temporal_client: Client, seaweed: SeaweedFS
) -> AsyncIterator[RestoreStack]:
    base = tmp_path_factory.mktemp("restore")
    cluster = MariaDBCluster(base / "db", cluster="shop", layout={KEYSPACE: [SHARD]},
                             password=secrets.token_urlsafe(18), rows_per_table=2000,
                             replicas_per_shard=1)
    os.environ[PASSWORD_ENV] = cluster.password
    os.environ[S3_KEY_ENV] = seaweed.access_key
    os.environ[S3_SECRET_ENV] = seaweed.secret_key
    bucket = f"restore-{uuid.uuid4().hex[:12]}"
    seaweed.create_bucket(bucket)
    queue = f"restore-{uuid.uuid4()}"
    jobs_dir = base / "jobs"
    cluster.start()
    stack = RestoreStack(temporal_client, seaweed, cluster,
                         cluster.write_cluster_yaml(base / "cluster.yaml", PASSWORD_ENV),
                         bucket, queue, jobs_dir, base)
    try:
        async with running_worker(temporal_client, WorkerSettings(task_queue=queue,
                                                                  jobs_dir=jobs_dir)):
            yield stack
    finally:
        await stop_all(stack)
        cluster.stop()
