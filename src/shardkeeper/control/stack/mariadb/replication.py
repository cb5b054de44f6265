"""GTID replication inside a shard: wiring a replica to its primary, waiting for it to catch up."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import pymysql.cursors
from pymysql.converters import escape_string

from shardkeeper.control.stack.binaries import StackStartError
from shardkeeper.control.stack.mariadb.accounts import REPLICATION_USER
from shardkeeper.control.stack.mariadb.instance import Connect, InstanceInfo
from shardkeeper.control.stack.ports import LOOPBACK

CATCH_UP_TIMEOUT_S = 120.0


def replicate(
    connect: Connect, replica: InstanceInfo, primary: InstanceInfo, replication_password: str
) -> None:
    """Point ``replica`` at ``primary`` (GTID ``slave_pos``) and start replicating."""
    pw = escape_string(replication_password)
    with connect(replica) as conn, conn.cursor() as cur:
        cur.execute(
            f"CHANGE MASTER TO MASTER_HOST='{LOOPBACK}', MASTER_PORT={primary.port}, "
            f"MASTER_USER='{REPLICATION_USER}', MASTER_PASSWORD='{pw}', "
            "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1"
        )
        cur.execute("START SLAVE")


def slave_status(connect: Connect, instance: InstanceInfo) -> dict[str, Any]:
    """``SHOW SLAVE STATUS`` of an instance as a dict (empty for a non-replica)."""
    with connect(instance) as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SHOW SLAVE STATUS")
        row = cur.fetchone()
    return dict(row) if row else {}


def wait_caught_up(
    connect: Connect, primary: InstanceInfo, replicas: Iterable[InstanceInfo], deadline: float
) -> None:
    """Wait until every replica has applied ``primary``'s current GTID position.

    Args:
        connect: How to open a connection to an instance.
        primary: The shard's primary.
        replicas: Its replicas.
        deadline: ``time.monotonic()`` value by which they must have caught up.

    Raises:
        StackStartError: If a replication thread stopped with an error, or on timeout.
    """
    with connect(primary) as conn, conn.cursor() as cur:
        cur.execute("SELECT @@gtid_binlog_pos")
        row = cur.fetchone()
    target = str(row[0]) if row else ""
    for replica in replicas:
        _wait_replica(connect, replica, target, deadline)


def _wait_replica(connect: Connect, replica: InstanceInfo, target: str, deadline: float) -> None:
    with connect(replica) as conn, conn.cursor() as cur:
        while True:
            cur.execute("SELECT MASTER_GTID_WAIT(%s, 1)", (target,))
            row = cur.fetchone()
            if row is not None and row[0] == 0:
                return
            status = slave_status(connect, replica)
            broken = status.get("Slave_SQL_Running") == "No" or (
                status.get("Slave_IO_Running") == "No" and status.get("Last_IO_Errno")
            )
            if broken or time.monotonic() > deadline:
                why = "replication stopped" if broken else "timed out"
                raise StackStartError(
                    f"replica {replica.name} did not reach GTID {target!r} ({why}): "
                    f"IO={status.get('Slave_IO_Running')} SQL={status.get('Slave_SQL_Running')}"
                    f" last IO error={status.get('Last_IO_Error')!r}"
                    f" last SQL error={status.get('Last_SQL_Error')!r}"
                )
