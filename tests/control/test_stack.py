"""The embedded stack's launchers against real servers: Temporal, SeaweedFS, MariaDB."""

from __future__ import annotations

import os
import secrets
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from botocore.exceptions import ClientError
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from shardkeeper.control.stack.mariadb import MariaDBCluster, instance_name
from shardkeeper.control.stack.ports import free_port_pair, port_is_free
from shardkeeper.control.stack.seaweedfs import SeaweedFS, s3_client
from shardkeeper.control.stack.temporal_server import (
    DevServerProfile,
    TemporalDevServer,
    register_search_attributes,
)
from shardkeeper.spec.cluster import Cluster

SHARDKEEPER_ATTRIBUTES = {
    "ShardkeeperCluster",
    "ShardkeeperSchedule",
    "ShardkeeperKeyspace",
    "ShardkeeperShard",
    "ShardkeeperBackupId",
    "ShardkeeperOutcome",
    "ShardkeeperRestorePhase",
    "ShardkeeperStrategy",  # overlap: a claim is per strategy
    "ShardkeeperPhase",  # overlap: working = past the stagger sleep
}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---- ports ---------------------------------------------------------------------------------


def test_free_port_pair_gives_two_bindable_ports() -> None:
    port = free_port_pair()
    assert port_is_free(port)
    assert port_is_free(port + 10000)
    assert free_port_pair() != port


# ---- Temporal ------------------------------------------------------------------------------


async def test_dev_server_registers_shardkeeper_search_attributes(
    temporal_dev: TemporalDevServer, temporal_client: Client
) -> None:
    listed = await temporal_client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=temporal_dev.namespace)
    )
    keywords = {
        name
        for name, kind in listed.custom_attributes.items()
        if kind == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    }
    assert keywords >= SHARDKEEPER_ATTRIBUTES
    assert temporal_dev.address.startswith("127.0.0.1:")
    # The namespace is usable, not merely registered (other modules may have schedules in it).
    listed_schedules = [s.id async for s in await temporal_client.list_schedules()]
    assert all(isinstance(i, str) for i in listed_schedules)


async def test_dev_server_stop_leaves_no_process(
    tmp_path: Path, temporal_profile: DevServerProfile
) -> None:
    async with TemporalDevServer(tmp_path, temporal_profile, use_free_ports=True) as server:
        pid = server.pid
        assert pid is not None and _pid_alive(pid)
        port = int(server.address.rsplit(":", 1)[1])
    assert not _pid_alive(pid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    server.stop()  # idempotent


async def test_time_skipping_server_accepts_shardkeeper_search_attributes(
    test_server_path: Path,
) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_path)
    )
    try:
        attrs = TypedSearchAttributes(
            [SearchAttributePair(SearchAttributeKey.for_keyword("ShardkeeperCluster"), "demo")]
        )
        # Unregistered, the test server refuses the attribute; registered (twice: idempotent),
        # a workflow can carry it. No worker is needed to start and describe one.
        with pytest.raises(RPCError, match="ShardkeeperCluster"):
            await env.client.start_workflow(
                "Probe", id=f"probe-{uuid.uuid4()}", task_queue="none", search_attributes=attrs
            )
        await register_search_attributes(env.client)
        await register_search_attributes(env.client)
        handle = await env.client.start_workflow(
            "Probe", id=f"probe-{uuid.uuid4()}", task_queue="none", search_attributes=attrs
        )
        described = await handle.describe()
        assert described.typed_search_attributes == attrs
    finally:
        await env.shutdown()


# ---- SeaweedFS -----------------------------------------------------------------------------


def test_seaweed_put_then_get(seaweed: SeaweedFS, s3_bucket: str) -> None:
    client = seaweed.client()
    body = os.urandom(256 * 1024)
    client.put_object(Bucket=s3_bucket, Key="a/b/object.bin", Body=body)
    assert client.get_object(Bucket=s3_bucket, Key="a/b/object.bin")["Body"].read() == body


def test_seaweed_rejects_a_wrong_secret(seaweed: SeaweedFS, s3_bucket: str) -> None:
    intruder = s3_client(seaweed.endpoint, seaweed.access_key, seaweed.secret_key + "x")
    with pytest.raises(ClientError) as caught:
        intruder.put_object(Bucket=s3_bucket, Key="nope", Body=b"x")
    assert caught.value.response["Error"]["Code"] in {
        "SignatureDoesNotMatch",
        "AccessDenied",
        "InvalidAccessKeyId",
    }


def test_seaweed_listens_on_loopback_only(seaweed: SeaweedFS) -> None:
    host, port = seaweed.endpoint.removeprefix("http://").split(":")
    assert host == "127.0.0.1"
    with socket.create_connection((host, int(port)), timeout=2):
        pass


# ---- MariaDB -------------------------------------------------------------------------------


def test_cluster_has_the_demo_topology(mariadb_cluster: MariaDBCluster) -> None:
    names = sorted(i.name for i in mariadb_cluster.instances)
    assert names == sorted(
        instance_name(ks, shard, index)
        for ks, shard in [("commerce", "-"), ("customer", "-80"), ("customer", "80-")]
        for index in (0, 1)
    )
    assert len({i.server_id for i in mariadb_cluster.instances}) == 6
    assert len({i.port for i in mariadb_cluster.instances}) == 6


def test_replicas_are_replicating(mariadb_cluster: MariaDBCluster) -> None:
    for keyspace, shard in mariadb_cluster.shards():
        primary = mariadb_cluster.primary(keyspace, shard)
        [replica] = mariadb_cluster.replicas(keyspace, shard)
        status = mariadb_cluster.slave_status(replica)
        assert status["Slave_IO_Running"] == "Yes", status
        assert status["Slave_SQL_Running"] == "Yes", status
        assert status["Master_Port"] == primary.port
        assert status["Using_Gtid"] == "Slave_Pos"
        assert mariadb_cluster.slave_status(primary) == {}


def test_a_row_written_on_the_primary_reaches_the_replica(
    mariadb_cluster: MariaDBCluster,
) -> None:
    primary = mariadb_cluster.primary("customer", "80-")
    [replica] = mariadb_cluster.replicas("customer", "80-")
    marker = os.urandom(8).hex()
    # A database of its own: the seeded keyspace data stays as other tests expect it.
    with mariadb_cluster.connect(primary) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS stack_probe")
        cur.execute("CREATE TABLE IF NOT EXISTS stack_probe.marks (v VARCHAR(32) PRIMARY KEY)")
        cur.execute("INSERT INTO stack_probe.marks VALUES (%s)", (marker,))
    mariadb_cluster.wait_replicas_caught_up()
    with mariadb_cluster.connect(replica) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM stack_probe.marks WHERE v = %s", (marker,))
        assert cur.fetchone() == (1,)


def test_replica_checksums_equal_primary_and_shards_differ(
    mariadb_cluster: MariaDBCluster,
) -> None:
    mariadb_cluster.wait_replicas_caught_up()
    per_shard = {}
    for keyspace, shard in mariadb_cluster.shards():
        primary = mariadb_cluster.primary(keyspace, shard)
        [replica] = mariadb_cluster.replicas(keyspace, shard)
        sums = mariadb_cluster.table_checksums(primary)
        assert set(sums) == {f"{keyspace}.{t}" for t in ("customers", "orders", "events")}
        assert all(sums.values())
        assert mariadb_cluster.table_checksums(replica) == sums
        per_shard[(keyspace, shard)] = sums
    assert per_shard[("customer", "-80")] != per_shard[("customer", "80-")]


def test_cluster_yaml_is_a_valid_cluster_document(mariadb_cluster: MariaDBCluster) -> None:
    assert mariadb_cluster.cluster_yaml is not None
    doc = Cluster.model_validate(yaml.safe_load(mariadb_cluster.cluster_yaml.read_text()))
    assert doc.metadata.name == "demo"
    assert doc.spec.credentials.user == "shardkeeper"
    assert doc.spec.credentials.password_from is not None
    env = doc.spec.credentials.password_from.env
    assert env is not None and os.environ[env] == mariadb_cluster.password
    shards = {(k.name, s.name): s for k in doc.spec.keyspaces for s in k.shards}
    assert sorted(shards) == [("commerce", "-"), ("customer", "-80"), ("customer", "80-")]
    for (keyspace, shard), spec in shards.items():
        primary = mariadb_cluster.primary(keyspace, shard)
        [declared] = [i for i in spec.instances if i.role == "primary"]
        assert (declared.name, declared.port, declared.socket) == (
            primary.name,
            primary.port,
            str(primary.socket),
        )


def test_shardkeeper_account_reaches_every_instance_over_tcp(
    mariadb_cluster: MariaDBCluster,
) -> None:
    for inst in mariadb_cluster.instances:
        with mariadb_cluster.connect(inst, tcp=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT @@server_id, @@port, @@gtid_strict_mode, @@log_bin")
            assert cur.fetchone() == (inst.server_id, inst.port, 1, 1)


def test_seaweed_takes_a_bucket_per_test_for_a_whole_session(tmp_path: Path) -> None:
    """Each bucket is a collection with its own volumes: 100 of them must all take writes.

    The volume limit SeaweedFS derives by itself ran out after ~75 buckets in one session.
    """
    store = SeaweedFS(tmp_path / "many", access_key="k" + secrets.token_hex(4),
                      secret_key=secrets.token_urlsafe(16))
    store.start()
    try:
        client = store.client()

        def fill(i: int) -> None:
            store.create_bucket(f"many-{i:03d}")
            client.put_object(Bucket=f"many-{i:03d}", Key="x", Body=b"y" * 1000)

        with ThreadPoolExecutor(8) as pool:  # as a session's modules do, only faster
            list(pool.map(fill, range(100)))
        assert client.get_object(Bucket="many-099", Key="x")["Body"].read() == b"y" * 1000
    finally:
        store.stop()
