"""Stop and start a local mariadbd that shardkeeper may not have started itself.

Stop: the SQL ``SHUTDOWN`` statement (works for any server we can log into, whoever started
it), then wait until the server's pid is gone and it refuses connections. Start: the
instance's declared ``systemd_unit`` (``systemctl start``) or its ``start_command`` as a
detached process in its own session (it outlives the worker), then wait until it answers.
Both are idempotent. MySQL errors are classified by errno, never by message text.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pymysql
import structlog
from temporalio import activity

from shardkeeper.activities.heartbeat import Heartbeater
from shardkeeper.activities.readiness import connect
from shardkeeper.contracts import names
from shardkeeper.contracts.common import DatabaseCredentials, Instance
from shardkeeper.contracts.restore import InstanceInput, StartInstanceInput, StartInstanceResult
from shardkeeper.errors import EndpointUnavailable, PermanentError, SpecInvalid
from shardkeeper.processes import server_env

log = structlog.get_logger(__name__)

# Client errnos meaning "nobody is serving there (now)": can't connect via socket / TCP,
# server gone away, lost connection; 1053: server shutdown in progress.
_DOWN_ERRNOS = frozenset({2002, 2003, 2006, 2013, 1053})
STOP_TIMEOUT_SECONDS = 300.0
_POLL_SECONDS = 0.2
# Files of a replica's replication setup that a restored datadir does not contain (the
# backup is of another server) and that must come from the instance's own previous datadir.
CARRIED_FILES = ("master.info",)


class StartFailed(PermanentError):
    """The instance did not come up with its declared start command or unit."""


def is_up(instance: Instance, credentials: DatabaseCredentials) -> bool:
    """Whether the instance accepts connections (AccessDenied propagates: it *is* up)."""
    try:
        connect(instance, credentials).close()
    except pymysql.err.OperationalError as err:
        if err.args and err.args[0] in _DOWN_ERRNOS:
            return False
        raise EndpointUnavailable(
            f"instance {instance.name}: cannot tell whether it runs (errno "
            f"{err.args[0] if err.args else '?'})"
        ) from None
    return True


def listening(instance: Instance) -> bool:
    """Whether anything accepts connections at the instance's address (no login needed)."""
    if instance.host and instance.port:
        family, address = socket.AF_INET, (instance.host, instance.port)
        probe = socket.socket(family, socket.SOCK_STREAM)
        target: object = address
    elif instance.socket:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target = instance.socket
    else:
        return False
    probe.settimeout(2.0)
    try:
        probe.connect(target)  # type: ignore[arg-type]
    except OSError:
        return False
    finally:
        probe.close()
    return True


def query(instance: Instance, credentials: DatabaseCredentials, sql: str) -> list[dict[str, Any]]:
    """Run one statement and return its rows as dicts."""
    with connect(instance, credentials) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def execute(instance: Instance, credentials: DatabaseCredentials, *statements: str) -> None:
    """Run statements in order on one connection."""
    with connect(instance, credentials) as conn, conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # a zombie (state Z) has exited; only its parent has not reaped it yet
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def server_pid(instance: Instance, credentials: DatabaseCredentials) -> int | None:
    """The running server's pid from its pid file, when readable here."""
    rows = query(instance, credentials, "SELECT @@pid_file AS f, @@datadir AS d")
    if not rows:
        return None
    pid_file = Path(str(rows[0]["f"]))
    if not pid_file.is_absolute():
        pid_file = Path(str(rows[0]["d"])) / pid_file
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def stop(instance: Instance, credentials: DatabaseCredentials,
         timeout: float = STOP_TIMEOUT_SECONDS) -> bool:
    """Shut the server down cleanly with SQL ``SHUTDOWN`` and wait until it is gone.

    Returns:
        Whether it was running.

    Raises:
        EndpointUnavailable: It is still up after ``timeout`` seconds.
    """
    if not is_up(instance, credentials):
        return False
    pid = server_pid(instance, credentials)
    with contextlib.suppress(pymysql.MySQLError):
        # the server may drop the connection before answering
        execute(instance, credentials, "SHUTDOWN")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (pid is None or not _pid_alive(pid)) and not is_up(instance, credentials):
            log.info("instance.stopped", instance=instance.name, pid=pid)
            return True
        time.sleep(_POLL_SECONDS)
    raise EndpointUnavailable(f"instance {instance.name} still runs {timeout:.0f}s after SHUTDOWN")


def start_log(instance: Instance) -> Path:
    """Where the output of a detached start goes (beside the datadir, never inside it)."""
    base = instance.datadir or f"/tmp/shardkeeper-{instance.name}"
    return Path(f"{base.rstrip('/')}.shardkeeper-start.log")


def start(instance: Instance, credentials: DatabaseCredentials, extra_args: tuple[str, ...],
          timeout: float) -> int | None:
    """Start the instance as declared and wait until it answers.

    Args:
        instance: With ``systemd_unit`` or ``start_command``.
        credentials: To check that it answers.
        extra_args: Appended to an argv start (``--read-only``, ``--skip-slave-start``);
            a systemd start cannot take them, the caller applies them with SQL.
        timeout: Seconds to wait for it to answer.

    Returns:
        The pid of a detached start, None for systemd.

    Raises:
        SpecInvalid: The instance declares neither.
        StartFailed: It exited or did not answer in time (with its output's tail).
    """
    if instance.systemd_unit:
        subprocess.run(["systemctl", "start", instance.systemd_unit], check=True,
                       capture_output=True, timeout=timeout)
        proc = None
    elif instance.start_command:
        logfile = start_log(instance)
        logfile.parent.mkdir(parents=True, exist_ok=True)
        with logfile.open("ab") as out:
            proc = subprocess.Popen(
                [*instance.start_command, *extra_args], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, env=server_env(),
                cwd=str(Path(instance.datadir).parent) if instance.datadir else None,
            )
        # Reap it if it exits while this worker lives (no zombie); it is in its own session,
        # so it survives the worker.
        threading.Thread(target=proc.wait, daemon=True, name=f"reap-{proc.pid}").start()
    else:
        raise SpecInvalid(
            f"instance {instance.name} declares neither startCommand nor systemdUnit; "
            "shardkeeper cannot start it again after a restore"
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StartFailed(f"instance {instance.name} exited with {proc.returncode} on start; "
                              f"last output:\n{_tail(start_log(instance))}")
        if is_up(instance, credentials):
            log.info("instance.started", instance=instance.name,
                     pid=proc.pid if proc else None)
            return proc.pid if proc else None
        time.sleep(_POLL_SECONDS)
    raise StartFailed(f"instance {instance.name} did not answer within {timeout:.0f}s; "
                      f"last output:\n{_tail(start_log(instance))}")


def carry_replication_files(aside: str, datadir: str) -> list[str]:
    """Copy a replica's own replication settings from its set-aside datadir (copies only)."""
    carried = []
    for name in CARRIED_FILES:
        src = Path(aside) / name
        if src.is_file() and not (Path(datadir) / name).exists():
            shutil.copy2(src, Path(datadir) / name)
            carried.append(name)
    return carried


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def fenced_start_args(instance: Instance) -> tuple[str, ...]:
    """Extra argv that keeps a freshly restored server from taking writes or replicating."""
    if not instance.start_command:
        return ()
    return ("--read-only=1", "--skip-slave-start")


@activity.defn(name=names.START_INSTANCE)
async def start_instance(inp: StartInstanceInput) -> StartInstanceResult:
    """Start an instance (fenced by default) and wait until it answers; idempotent."""
    async with Heartbeater(lambda: None):
        if await asyncio.to_thread(is_up, inp.instance, inp.credentials):
            return StartInstanceResult(already_running=True)
        if inp.carry_from and inp.instance.datadir:
            await asyncio.to_thread(carry_replication_files, inp.carry_from, inp.instance.datadir)
        extra = fenced_start_args(inp.instance) if inp.read_only else ()
        pid = await asyncio.to_thread(start, inp.instance, inp.credentials, extra,
                                      float(inp.timeout_seconds))
        if inp.read_only and inp.instance.systemd_unit:
            await asyncio.to_thread(execute, inp.instance, inp.credentials,
                                    "SET GLOBAL read_only = ON")
        return StartInstanceResult(pid=pid)


@activity.defn(name=names.STOP_INSTANCE)
async def stop_instance(inp: InstanceInput) -> StartInstanceResult:
    """Shut an instance down cleanly (SQL SHUTDOWN); a stopped instance is fine."""
    async with Heartbeater(lambda: None):
        was_running = await asyncio.to_thread(stop, inp.instance, inp.credentials)
    return StartInstanceResult(already_running=was_running)
