"""check_shard_readiness and choose_source: is the shard healthy, and where to read from.

A shard is ready when its primary answers. What its replicas must do depends on the
``readiness`` rule: ``source`` (the default) backs up what can be backed up, so a replica that
is stopped, unreachable or lagging beyond ``maxReplicaLag`` is only passed over when the source
is chosen (another healthy replica, else the primary, as cloudnative-mysql's
``prefer-standby``); ``all-tablets`` is the vitess rule, where any unhealthy replica makes the
shard not ready. Not ready is an *outcome* with a reason, not an error: the run records the
shard as skipped and the next run tries again. MySQL errors are classified by errno here and
nowhere else.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pymysql
import pymysql.cursors
import structlog
from temporalio import activity

from shardkeeper.activities.heartbeat import Heartbeater
from shardkeeper.contracts import names
from shardkeeper.contracts.backup import (
    CheckShardReadinessInput,
    CheckShardReadinessResult,
    ChooseSourceInput,
    ChooseSourceResult,
    ReplicaHealth,
)
from shardkeeper.contracts.common import DatabaseCredentials, Instance, Role
from shardkeeper.datapath.credentials import resolve
from shardkeeper.datapath.stores import catalog
from shardkeeper.errors import AccessDenied, NoHealthySource

log = structlog.get_logger(__name__)

# MySQL/MariaDB client errnos: access denied for the account / to the database.
_ACCESS_DENIED = {1044, 1045, 1698}
CONNECT_TIMEOUT_SECONDS = 5


def connect(instance: Instance, credentials: DatabaseCredentials) -> pymysql.Connection[Any]:
    """A PyMySQL connection to ``instance`` (TCP when host and port are known, else socket).

    Raises:
        AccessDenied: the account was refused (no retry helps).
        pymysql.MySQLError: anything else; callers treat it as "unreachable".
    """
    password = resolve(credentials.password) if credentials.password else ""
    kwargs: dict[str, Any] = {
        "user": credentials.user,
        "password": password,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "read_timeout": 30,
        "cursorclass": pymysql.cursors.DictCursor,
        "autocommit": True,
    }
    if instance.host and instance.port:
        kwargs.update(host=instance.host, port=instance.port)
    else:
        kwargs.update(unix_socket=instance.socket)
    try:
        return pymysql.connect(**kwargs)
    except pymysql.err.OperationalError as err:
        if err.args and err.args[0] in _ACCESS_DENIED:
            raise AccessDenied(
                f"instance {instance.name}: the database refused user {credentials.user!r} "
                f"(errno {err.args[0]})"
            ) from None
        raise


def _replica_health(
    instance: Instance, credentials: DatabaseCredentials, max_lag: int
) -> ReplicaHealth:
    try:
        with connect(instance, credentials) as conn, conn.cursor() as cur:
            cur.execute("SHOW SLAVE STATUS")
            row = cur.fetchone()
    except pymysql.MySQLError as err:
        return ReplicaHealth(instance=instance.name, healthy=False,
                             reason=f"unreachable (errno {err.args[0] if err.args else '?'})")
    if not row:
        return ReplicaHealth(instance=instance.name, healthy=False, reason="not a replica")
    io, sql = row.get("Slave_IO_Running"), row.get("Slave_SQL_Running")
    lag = row.get("Seconds_Behind_Master")
    if io != "Yes" or sql != "Yes":
        return ReplicaHealth(instance=instance.name, healthy=False, lag_seconds=lag,
                             reason=f"replication stopped (io={io}, sql={sql})")
    if lag is None or int(lag) > max_lag:
        return ReplicaHealth(instance=instance.name, healthy=False, lag_seconds=lag,
                             reason=f"lag {lag}s exceeds maxReplicaLag {max_lag}s")
    return ReplicaHealth(instance=instance.name, healthy=True, lag_seconds=int(lag))


def check_readiness(inp: CheckShardReadinessInput) -> CheckShardReadinessResult:
    """Blocking readiness check of one shard."""
    label = f"{inp.shard.keyspace}/{inp.shard.shard}"
    primary = next((i for i in inp.shard.instances if i.role == Role.PRIMARY), None)
    if primary is None:
        return CheckShardReadinessResult(ready=False, reason=f"shard {label} has no primary")
    try:
        with connect(primary, inp.credentials) as conn, conn.cursor() as cur:
            cur.execute("SELECT @@version AS version")
            version = str((cur.fetchone() or {}).get("version"))
    except pymysql.MySQLError as err:
        code = err.args[0] if err.args else "?"
        return CheckShardReadinessResult(
            ready=False, primary=primary.name,
            reason=f"primary {primary.name} unreachable (errno {code})",
        )
    replicas = tuple(
        _replica_health(i, inp.credentials, inp.max_replica_lag_seconds)
        for i in inp.shard.instances if i.role == Role.REPLICA
    )
    broken = [r for r in replicas if not r.healthy]
    reason = None
    if broken and inp.readiness == "all-tablets":
        reason = f"readiness all-tablets: {_describe(broken)}"
    elif inp.require_backup_in is not None and not catalog.list_backups(
        inp.require_backup_in, inp.cluster, inp.shard.keyspace, inp.shard.shard
    ):
        return CheckShardReadinessResult(
            ready=False, primary=primary.name, server_version=version, replicas=replicas,
            reason=f"shard {label} has no committed backup yet and allowFirstBackup is false",
        )
    return CheckShardReadinessResult(
        ready=reason is None, reason=reason, primary=primary.name, server_version=version,
        replicas=replicas,
    )


def _describe(replicas: list[ReplicaHealth]) -> str:
    return "; ".join(f"replica {r.instance}: {r.reason}" for r in replicas)


def pick_source(inp: ChooseSourceInput) -> ChooseSourceResult:
    """Least-lagged healthy replica (ties by name) unless the target is the primary.

    The reason names the chosen instance, why, and every replica passed over with its own
    reason, so a run's result says why a backup came from the primary.
    """
    by_name = {i.name: i for i in inp.shard.instances}
    known = [r for r in inp.readiness.replicas if r.instance in by_name]
    passed_over = [r for r in known if not r.healthy]
    if inp.target == "prefer-replica":
        healthy = sorted(
            (r for r in known if r.healthy), key=lambda r: (r.lag_seconds or 0, r.instance)
        )
        if healthy:
            best = healthy[0]
            why = (f"replica {best.instance}: healthy, lag {best.lag_seconds}s "
                   f"(least lagged of {len(healthy)} healthy)")
            if passed_over:
                why += f"; passed over {_describe(passed_over)}"
            return ChooseSourceResult(instance=by_name[best.instance], reason=why)
    primary = inp.readiness.primary
    if primary is None or primary not in by_name:
        raise NoHealthySource(f"shard {inp.shard.keyspace}/{inp.shard.shard}: no primary")
    if inp.target == "primary":
        why = f"primary {primary}: target is primary"
    elif not known:
        why = f"primary {primary}: the shard has no replica (fallback of prefer-replica)"
    else:
        why = (f"primary {primary}: no healthy replica (fallback of prefer-replica): "
               f"{_describe(passed_over)}")
    return ChooseSourceResult(instance=by_name[primary], reason=why)


@activity.defn(name=names.CHECK_SHARD_READINESS)
async def check_shard_readiness(inp: CheckShardReadinessInput) -> CheckShardReadinessResult:
    """Whether the shard can be backed up now (see the module docstring)."""
    async with Heartbeater(lambda: None):  # a lost worker is noticed in seconds
        return await asyncio.to_thread(check_readiness, inp)


@activity.defn(name=names.CHOOSE_SOURCE)
async def choose_source(inp: ChooseSourceInput) -> ChooseSourceResult:
    """The instance the backup is taken from."""
    return pick_source(inp)
