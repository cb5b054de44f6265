"""One ``mariadbd`` of the cluster: its name, command line, connection, start and readiness.

An instance is a private server (``--no-defaults``, own datadir, socket and loopback port)
started by this process as a :class:`~shardkeeper.control.stack.binaries.ManagedProcess`.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias

import pymysql
import pymysql.cursors

from shardkeeper.control.stack.binaries import ExecutableNotFoundError, ManagedProcess
from shardkeeper.control.stack.ports import LOOPBACK

Role = Literal["primary", "replica"]

# Strings: PyMySQL's Connection is generic only to type checkers.
Connection: TypeAlias = "pymysql.Connection[pymysql.cursors.Cursor]"
Connect: TypeAlias = "Callable[[InstanceInfo], Connection]"
"""Opens a connection to an instance as shardkeeper's account (the cluster's ``connect``)."""

READY_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 60.0  # a clean InnoDB shutdown after a large seed takes a while


def mariadb_program(name: str) -> Path:
    """Locate a MariaDB program (``mariadbd``, ``mariadb-install-db`` …) of the system.

    Raises:
        ExecutableNotFoundError: If MariaDB is not installed.
    """
    for candidate in (Path("/usr/sbin") / name, Path("/usr/bin") / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ExecutableNotFoundError(
        f"{name} not found; install MariaDB 10.11 server and backup packages "
        "(Debian: apt-get install mariadb-server mariadb-backup)"
    )


def instance_name(keyspace: str, shard: str, index: int) -> str:
    """The DNS-1123 name of an instance: keyspace, shard with ``-`` spelled ``x``, index.

    ``commerce``/``-`` → ``commerce-x-0``; ``customer``/``-80`` → ``customer-x80-0``;
    ``customer``/``80-`` → ``customer-80x-1``. Index 0 is the primary.

    Args:
        keyspace: Keyspace name.
        shard: Vitess-style key range.
        index: 0 for the primary, 1.. for replicas.

    Returns:
        The instance name.
    """
    ks = keyspace.lower().replace("_", "-")
    return f"{ks}-{shard.lower().replace('-', 'x')}-{index}"


@dataclass(frozen=True)
class InstanceInfo:
    """One started ``mariadbd`` of the cluster.

    Attributes:
        name: DNS-1123 instance name, e.g. ``customer-x80-0``.
        role: ``primary`` or ``replica``.
        keyspace: Keyspace (also the database name).
        shard: Key range, e.g. ``-80``.
        host: Always ``127.0.0.1``.
        port: TCP port on loopback.
        socket: Unix socket path.
        datadir: The instance's datadir (binary logs live there too).
        server_id: Unique ``server_id`` within the cluster.
    """

    name: str
    role: Role
    keyspace: str
    shard: str
    host: str
    port: int
    socket: Path
    datadir: Path
    server_id: int

    @property
    def home(self) -> Path:
        """The instance's directory (datadir, log, tmpdir)."""
        return self.datadir.parent

    @property
    def log_path(self) -> Path:
        """Where the server's stderr (its error log) goes."""
        return self.home / "error.log"


def server_options(rows_per_table: int) -> list[str]:
    """Options that bootstrap and server share: InnoDB sizes and, as root, ``--user``.

    Args:
        rows_per_table: The cluster's seed size, which decides the redo log size.
    """
    # Small by default (six instances on a CI box); a larger redo log for bench-size seeds.
    log_mb = 16 if rows_per_table <= 100_000 else 256
    # mariadbd refuses to run as root unless told to; as anyone else the flag is an error.
    user = ["--user=root"] if os.geteuid() == 0 else []
    return ["--innodb-buffer-pool-size=32M", f"--innodb-log-file-size={log_mb}M", *user]


def start_command(instance: InstanceInfo, rows_per_table: int) -> list[str]:
    """The exact ``mariadbd`` command line of an instance (no secrets in it).

    Args:
        instance: The instance.
        rows_per_table: The cluster's seed size (see :func:`server_options`).
    """
    home = instance.home
    return [
        str(mariadb_program("mariadbd")),
        "--no-defaults",  # must come first: the machine's my.cnf must not leak in
        f"--datadir={instance.datadir}",
        f"--socket={instance.socket}",
        f"--port={instance.port}",
        f"--bind-address={LOOPBACK}",
        f"--pid-file={home / 'mysqld.pid'}",
        f"--tmpdir={home / 'tmp'}",
        f"--server-id={instance.server_id}",
        "--log-bin=mysql-bin",
        "--relay-log=relay-bin",
        "--binlog-format=ROW",
        "--gtid-strict-mode=1",
        "--log-slave-updates",
        f"--report-host={LOOPBACK}",
        f"--report-port={instance.port}",
        "--skip-name-resolve",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_general_ci",
        "--max-connections=100",
        # Only an OS crash could lose commits with this; tests kill processes, not hosts.
        "--innodb-flush-log-at-trx-commit=2",
        *server_options(rows_per_table),
    ]


def connect(
    instance: InstanceInfo,
    *,
    user: str,
    password: str,
    database: str | None = None,
    tcp: bool = False,
) -> Connection:
    """A PyMySQL connection (autocommit), over the socket unless ``tcp``; the caller closes it."""
    where: dict[str, Any] = (
        {"host": instance.host, "port": instance.port}
        if tcp
        else {"unix_socket": str(instance.socket)}
    )
    return pymysql.connect(
        user=user,
        password=password,
        database=database,
        autocommit=True,
        connect_timeout=5,
        **where,
    )


def spawn(instance: InstanceInfo, command: list[str]) -> ManagedProcess:
    """Start an instance's server with ``command``; its stderr goes to its error log."""
    (instance.home / "tmp").mkdir(parents=True, exist_ok=True)
    proc = ManagedProcess(
        f"mariadbd {instance.name}",
        command,
        log_path=instance.log_path,
        cwd=instance.home,
    )
    proc.start()
    return proc


def stop_by_pid_file(instance: InstanceInfo, timeout_s: float) -> bool:
    """Stop a server of ``instance`` that someone else started (e.g. a restore's restart).

    A restore stops and starts instances through their Cluster document's commands, so the
    server running at the end is not the process this stack spawned. It is found by its
    pid file, and only if that process's command line names the instance's directory.
    Returns whether one was stopped.
    """
    try:
        pid = int((instance.home / "mysqld.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return False
    if str(instance.home) not in cmdline:
        return False  # a stale pid file whose number now belongs to another process
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)
    return True


def wait_ready(
    instances: Iterable[InstanceInfo],
    processes: Mapping[str, ManagedProcess],
    connect: Connect,
) -> None:
    """Wait until every instance accepts connections.

    Args:
        instances: The instances to wait for.
        processes: Their processes by instance name (a dead one fails the wait at once).
        connect: How to open a connection to an instance.

    Raises:
        StackStartError: With the log tail of an instance that died or stayed unreachable.
    """
    pending = list(instances)
    deadline = time.monotonic() + READY_TIMEOUT_S
    last_error: dict[str, str] = {}
    while pending and time.monotonic() < deadline:
        for inst in list(pending):
            processes[inst.name].ensure_running()
            try:
                connect(inst).close()
                pending.remove(inst)
            except pymysql.MySQLError as exc:
                last_error[inst.name] = str(exc)
        if pending:
            time.sleep(0.1)
    if pending:
        inst = pending[0]
        raise processes[inst.name].failure(
            f"not accepting connections after {READY_TIMEOUT_S:.0f} s "
            f"({last_error.get(inst.name, 'no attempt')})"
        )
