"""User stories on real servers: restore a changed shard in place; restore into a new
instance from the raw object store (no schedule, no Temporal history of any backup)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pymysql
import pytest

from restore.support import (
    KEYSPACE,
    SHARD,
    RestoreStack,
    leftovers,
    location_of,
    take_backup,
    write_cluster_doc,
)
from shardkeeper.contracts.common import Instance, Role, TopologySource
from shardkeeper.contracts.restore import (
    QUERY_PROGRESS,
    RestorePhase,
    RestoreProgress,
    RestoreResult,
    RestoreSource,
)
from shardkeeper.control.stack.mariadb import InstanceInfo
from shardkeeper.control.stack.ports import LOOPBACK, free_port, socket_path

pytestmark = pytest.mark.e2e


async def test_in_place_restore_brings_a_changed_shard_back_to_the_backup(
    rstack: RestoreStack,
) -> None:
    cluster = rstack.cluster
    primary, replica = rstack.primary(), rstack.replica()
    at_backup = cluster.table_checksums(primary)
    manifest = await asyncio.to_thread(take_backup, rstack, rstack.location, "20261122T010000Z")
    with cluster.connect(primary, database=KEYSPACE) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM orders WHERE id % 3 = 0")
        cur.execute("UPDATE customers SET name = 'changed' WHERE id < 50")
        cur.execute("CREATE TABLE added (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO added VALUES (1), (2)")
    cluster.wait_replicas_caught_up()
    assert cluster.table_checksums(primary) != at_backup

    handle = await rstack.restore(source=RestoreSource(location=rstack.location,
                                                       backup_id=manifest.backup_id))
    result: RestoreResult = await asyncio.wait_for(handle.result(), timeout=300)

    assert result.phase == RestorePhase.COMPLETED
    assert [c.backup_id for c in result.backup_set] == [manifest.backup_id]
    assert cluster.table_checksums(primary) == at_backup
    assert cluster.table_checksums(replica) == at_backup
    shard = result.shards[0]
    assert set(shard.checksums) == {f"{KEYSPACE}.{t}" for t in ("customers", "events", "orders")}
    # the primary takes writes again and the replica follows it from the backup's GTID
    with cluster.connect(primary, database=KEYSPACE) as conn, conn.cursor() as cur:
        cur.execute("SELECT @@read_only")
        assert cur.fetchone() == (0,)
        cur.execute("INSERT INTO events VALUES (999999, 'after', 'restore')")
    cluster.wait_replicas_caught_up()
    assert cluster.table_checksums(replica) == cluster.table_checksums(primary)
    status = cluster.slave_status(replica)
    assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("Yes", "Yes")
    # the old datadirs were removed only after success; nothing is left beside them
    assert leftovers(primary) == [] and leftovers(replica) == []
    progress = await handle.query(QUERY_PROGRESS, result_type=RestoreProgress)
    assert progress.phase == RestorePhase.COMPLETED
    print(f"in-place restore of one shard (2 instances): "
          f"{(result.finished_at - result.started_at).total_seconds():.1f}s"  # type: ignore[operator]
          f" for {manifest.size_bytes} stored bytes")


async def test_restore_into_a_new_instance_from_the_raw_object_store(
    rstack: RestoreStack, tmp_path: Path,
) -> None:
    cluster = rstack.cluster
    primary = rstack.primary()
    # a bucket no schedule ever wrote to, and a cluster name Temporal has never seen
    bucket = "raw-" + tmp_path.name.lower().replace("_", "-")[-20:]
    rstack.seaweed.create_bucket(bucket)
    raw = location_of(rstack.seaweed, bucket, prefix="dr")
    at_backup = cluster.table_checksums(primary)
    await asyncio.to_thread(take_backup, rstack, raw, "20261122T020000Z", "legacy-shop")
    histories = [w async for w in rstack.client.list_workflows(
        "WorkflowType = 'BackupRun' OR WorkflowType = 'ShardBackup'")]
    assert not [w for w in histories if "legacy-shop" in w.id]

    home = tmp_path / "copy-0"
    (home / "tmp").mkdir(parents=True)
    info = InstanceInfo(name="copy-x-0", role="primary", keyspace=KEYSPACE, shard=SHARD,
                        host=LOOPBACK, port=free_port(), socket=socket_path(home / "s.sock"),
                        datadir=home / "data", server_id=90)
    new = Instance(name=info.name, role=Role.PRIMARY, host=info.host, port=info.port,
                   socket=str(info.socket), datadir=str(info.datadir),
                   start_command=tuple(cluster.start_command(info)))
    rstack.extra.append(new)
    into = write_cluster_doc(tmp_path / "into.yaml", "shop-copy", [(new, "primary")])

    handle = await rstack.restore(
        cluster="legacy-shop",
        target=TopologySource(kind="file", cluster="shop-copy", path=str(into)),
        source=RestoreSource(location=raw, backup_id="latest"),
    )
    result: RestoreResult = await asyncio.wait_for(handle.result(), timeout=300)
    assert result.phase == RestorePhase.COMPLETED
    assert result.backup_set[0].backup_id == "20261122T020000Z"
    assert cluster.table_checksums(info) == at_backup
    with pymysql.connect(host=info.host, port=info.port, user=cluster.user,
                         password=cluster.password) as conn, conn.cursor() as cur:
        cur.execute("SELECT @@read_only, @@server_id")
        assert cur.fetchone() == (0, 90)
    assert leftovers(info) == []
