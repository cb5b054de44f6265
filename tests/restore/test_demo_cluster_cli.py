"""The CLI end to end on the demo cluster (3 shards, primary + replica each, default seed):
``restore -f`` with approval, ``describe restore``, ``restore approve``; prints the measured
restore time of the whole cluster."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from fixtures.wait import eventually
from restore.support import PASSWORD_ENV, RestoreStack, instance_of
from shardkeeper import naming
from shardkeeper.activities import instances
from shardkeeper.contracts.agent import AgentBackupRequest
from shardkeeper.contracts.common import CredentialRef, DatabaseCredentials
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.contracts.restore import RestorePhase, RestoreResult
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.datapath.backup.run import run_backup
from shardkeeper.datapath.stores import catalog

pytestmark = pytest.mark.e2e
BACKUP_ID = "20261122T050000Z"
DEMO_PASSWORD_ENV = "SHARDKEEPER_RESTORE_DEMO_DB_PASSWORD"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MariaDBCluster]:
    cluster = MariaDBCluster(tmp_path_factory.mktemp("demo") / "db", cluster="demo",
                             password=secrets.token_urlsafe(18), rows_per_table=2000)
    os.environ[DEMO_PASSWORD_ENV] = cluster.password
    await asyncio.to_thread(cluster.start)
    creds = DatabaseCredentials(user=cluster.user, password=CredentialRef(env=DEMO_PASSWORD_ENV))
    try:
        yield cluster
    finally:
        for info in cluster.instances:
            inst = instance_of(cluster, info)
            if await asyncio.to_thread(instances.listening, inst):
                await asyncio.to_thread(instances.stop, inst, creds, 120.0)
        cluster.stop()


def backup_shard(cluster: MariaDBCluster, stack: RestoreStack, keyspace: str, shard: str) -> None:
    loc = stack.location
    key = naming.backup_key(loc.prefix, cluster.cluster, keyspace, shard, BACKUP_ID)
    source = instance_of(cluster, cluster.primary(keyspace, shard))
    creds = DatabaseCredentials(user=cluster.user, password=CredentialRef(env=DEMO_PASSWORD_ENV))
    report = run_backup(AgentBackupRequest(cluster=cluster.cluster, keyspace=keyspace,
                                           shard=shard, backup_id=BACKUP_ID, source=source,
                                           credentials=creds, destination=loc, key=key),
                        lambda _p: None)
    catalog.put_manifest(loc, BackupManifest(
        cluster=cluster.cluster, keyspace=keyspace, shard=shard, backup_id=BACKUP_ID,
        source_instance=source.name, source_role="primary", engine=report.engine,
        object_key=key, size_bytes=report.size_bytes, sha256=report.sha256, parts=report.parts,
        started_at=report.started_at, finished_at=report.finished_at,
        verified_at=datetime.now(UTC), binlog=report.binlog, stream=report.stream))


def cli(stack: RestoreStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TEMPORAL_ADDRESS": stack.client.service_client.config.target_host,
           "TEMPORAL_NAMESPACE": stack.client.namespace, "SHARDKEEPER_TASK_QUEUE": stack.queue}
    return subprocess.run([sys.executable, "-m", "shardkeeper", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


async def test_cli_restores_the_demo_cluster_after_approval(
    rstack: RestoreStack, demo: MariaDBCluster, tmp_path: Path,
) -> None:
    before = {f"{i.keyspace}/{i.shard}": demo.table_checksums(i)
              for i in demo.instances if i.role == "primary"}
    await asyncio.gather(*(asyncio.to_thread(backup_shard, demo, rstack, ks, sh)
                           for ks, sh in demo.shards()))
    for info in demo.instances:
        if info.role == "primary":
            with demo.connect(info, database=info.keyspace) as conn, conn.cursor() as cur:
                cur.execute("DELETE FROM orders WHERE id < 100")
    demo.wait_replicas_caught_up()
    cluster_yaml = demo.write_cluster_yaml(tmp_path / "cluster.yaml", DEMO_PASSWORD_ENV)
    loc = rstack.location
    (tmp_path / "restore.yaml").write_text(yaml.safe_dump({
        "apiVersion": "shardkeeper.io/v1alpha1", "kind": "Restore",
        "metadata": {"name": "demo-back"},
        "spec": {"cluster": "demo", "requireApproval": True, "source": {
            "backupId": "latest",
            "s3": {"bucket": loc.bucket, "prefix": loc.prefix, "endpoint": loc.endpoint,
                   "forcePathStyle": True, "credentials": {
                       "accessKeyId": {"env": "SHARDKEEPER_RESTORE_TEST_S3_KEY"},
                       "secretAccessKey": {"env": "SHARDKEEPER_RESTORE_TEST_S3_SECRET"}}}}},
    }))
    started = await asyncio.to_thread(cli, rstack, "restore", "-f", str(tmp_path / "restore.yaml"),
                                      "-f", str(cluster_yaml))
    assert started.returncode == 0, started.stderr
    assert "waiting for approval" in started.stdout
    shown = await eventually(
        lambda: asyncio.to_thread(cli, rstack, "describe", "restore", "demo-back"), 120,
        "demo-back to await approval", until=lambda r: "AwaitingApproval" in r.stdout,
        interval=0.2)
    assert BACKUP_ID in shown.stdout and "customer/-80" in shown.stdout
    approved = await asyncio.to_thread(cli, rstack, "restore", "approve", "demo-back")
    assert approved.returncode == 0, approved.stderr
    handle = rstack.client.get_workflow_handle(naming.restore_workflow_id("demo", "demo-back"),
                                               result_type=RestoreResult)
    clock = asyncio.get_running_loop().time()
    result = await asyncio.wait_for(handle.result(), timeout=600)
    seconds = asyncio.get_running_loop().time() - clock
    assert result.phase == RestorePhase.COMPLETED
    for info in demo.instances:
        assert demo.table_checksums(info) == before[f"{info.keyspace}/{info.shard}"], info.name
    again = await asyncio.to_thread(cli, rstack, "restore", "approve", "demo-back")
    assert again.returncode != 0, "nothing left to approve"
    print(f"\ndemo cluster restore (3 shards x 2 instances, {demo.rows_per_table} rows/table): "
          f"{seconds:.1f}s from approval to Completed", file=sys.stderr)
    assert PASSWORD_ENV
