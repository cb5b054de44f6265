"""check_shard_readiness / choose_source against real mariadbd primaries and replicas."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from temporalio.testing import ActivityEnvironment

from fixtures.e2e_stack import S3_KEY_ENV, S3_SECRET_ENV
from fixtures.servers import PASSWORD_ENV
from shardkeeper.activities.readiness import check_shard_readiness, choose_source
from shardkeeper.contracts.backup import (
    CheckShardReadinessInput,
    ChooseSourceInput,
)
from shardkeeper.contracts.common import CredentialRef, S3Credentials, S3Location
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.control.stack.mariadb_cluster import MariaDBCluster
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.catalog import put_manifest
from shardkeeper.spec.convert import topology_of
from shardkeeper.spec.load import load


def _shard(cluster: MariaDBCluster, keyspace: str, shard: str) -> CheckShardReadinessInput:
    assert cluster.cluster_yaml is not None
    topo = topology_of(load([cluster.cluster_yaml]).clusters["demo"].resource)  # type: ignore[arg-type]
    s = next(x for x in topo.shards if (x.keyspace, x.shard) == (keyspace, shard))
    return CheckShardReadinessInput(shard=s, credentials=topo.credentials, cluster="demo")


async def test_healthy_shard_is_ready_and_a_replica_is_chosen(
    mariadb_cluster: MariaDBCluster,
) -> None:
    inp = _shard(mariadb_cluster, "customer", "-80")
    env = ActivityEnvironment()
    ready = await env.run(check_shard_readiness, inp)
    assert ready.ready, ready.reason
    assert ready.server_version and "MariaDB" in ready.server_version
    source = await env.run(choose_source, ChooseSourceInput(shard=inp.shard, readiness=ready))
    assert source.instance.role.value == "replica"
    primary = await env.run(choose_source, ChooseSourceInput(shard=inp.shard, readiness=ready,
                                                             target="primary"))
    assert primary.instance.role.value == "primary"


async def test_stopped_replication_makes_the_shard_not_ready(
    mariadb_cluster: MariaDBCluster,
) -> None:
    inp = _shard(mariadb_cluster, "customer", "80-")
    replica = mariadb_cluster.replicas("customer", "80-")[0]
    with mariadb_cluster.connect(replica) as conn, conn.cursor() as cur:
        cur.execute("STOP SLAVE SQL_THREAD")
    try:
        ready = await ActivityEnvironment().run(check_shard_readiness, inp)
        assert not ready.ready
        reason = ready.reason or ""
        assert "replication stopped" in reason and replica.name in reason
    finally:
        with mariadb_cluster.connect(replica) as conn, conn.cursor() as cur:
            cur.execute("START SLAVE SQL_THREAD")


async def test_first_backup_rule(
    mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS, s3_bucket: str,
) -> None:
    """allowFirstBackup false: not ready until a committed backup of the shard exists."""
    os.environ[S3_KEY_ENV], os.environ[S3_SECRET_ENV] = seaweed.access_key, seaweed.secret_key
    where = S3Location(bucket=s3_bucket, endpoint=seaweed.endpoint, force_path_style=True,
                       credentials=S3Credentials(access_key_id=CredentialRef(env=S3_KEY_ENV),
                                                 secret_access_key=CredentialRef(env=S3_SECRET_ENV)))
    inp = _shard(mariadb_cluster, "commerce", "-").model_copy(update={"require_backup_in": where})
    first = await ActivityEnvironment().run(check_shard_readiness, inp)
    assert not first.ready and "allowFirstBackup is false" in (first.reason or "")
    now = datetime.now(UTC)
    put_manifest(where, BackupManifest(
        cluster="demo", keyspace="commerce", shard="-", backup_id="20261122T020000Z",
        source_instance="commerce-x-1", source_role="replica", engine="mariabackup",
        object_key="demo/commerce/-/20261122T020000Z/backup.xbstream", size_bytes=1,
        sha256="00" * 32, parts=1, started_at=now, finished_at=now, verified_at=now))
    assert (await ActivityEnvironment().run(check_shard_readiness, inp)).ready
    assert os.environ[PASSWORD_ENV]
