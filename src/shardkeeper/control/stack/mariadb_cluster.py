"""A sharded MariaDB cluster on one host: per shard a primary and GTID replicas, seeded.

Each instance is a private ``mariadbd`` (``--no-defaults``, own datadir, socket and loopback
port) started by this process; the machine's own MariaDB is never used. Accounts are created at
bootstrap (``mariadb-install-db --extra-file``), so no instance is ever reachable with a
passwordless root over TCP: ``root@localhost`` only accepts the OS user over the socket, and
shardkeeper's account and the replication account have passwords. Each keyspace is a database
of the same name, seeded with deterministic rows that differ per shard.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from secrets import token_urlsafe
from types import TracebackType
from typing import Any, Literal, Self

import pymysql
import pymysql.cursors
import yaml
from pymysql.converters import escape_string

from shardkeeper.control.stack.binaries import (
    ExecutableNotFoundError,
    ManagedProcess,
    StackStartError,
    log_tail,
)
from shardkeeper.control.stack.ports import LOOPBACK, free_port, socket_path

Role = Literal["primary", "replica"]

DEFAULT_LAYOUT: Mapping[str, Sequence[str]] = {"commerce": ["-"], "customer": ["-80", "80-"]}
SEEDED_TABLES = ("customers", "orders", "events")
REPLICATION_USER = "repl"

_READY_TIMEOUT_S = 60.0
_CATCH_UP_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 60.0  # a clean InnoDB shutdown after a large seed takes a while
_SEED_BATCH_ROWS = 50_000  # one transaction per batch keeps binlog events and undo small

# Seed statements: ``{seq}`` is a SEQUENCE-engine table such as ``seq_1_to_50000``, ``%s`` the
# shard's tag (bound, never formatted), so rows are deterministic per shard and differ across.
_SEED_CUSTOMERS = (
    "INSERT INTO customers SELECT seq, CONCAT('user', seq, '@', SUBSTR(SHA2(%s, 256), 1, 8),"
    " '.example'), CONCAT('Customer ', seq),"
    " TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq MINUTE FROM {seq}"
)
_SEED_ORDERS = (
    "INSERT INTO orders SELECT seq, 1 + (seq * 7) %% {rows},"
    " CONV(SUBSTR(SHA2(CONCAT(%s, seq), 256), 1, 7), 16, 10),"
    " ELT(1 + seq %% 3, 'new', 'paid', 'shipped'),"
    " SHA2(CONCAT(%s, 'order', seq), 256) FROM {seq}"
)
_SEED_EVENTS = (
    "INSERT INTO events SELECT seq, ELT(1 + seq %% 4, 'login', 'view', 'cart', 'buy'),"
    " REPEAT(SHA2(CONCAT(%s, 'event', seq), 256), 8) FROM {seq}"
)


def _mariadb_program(name: str) -> Path:
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


class MariaDBCluster:
    """Primaries and replicas for every shard of ``layout``, wired with GTID replication.

    Args:
        base_dir: Directory under which each instance gets ``<name>/``.
        cluster: Cluster name (``metadata.name`` of the Cluster document).
        layout: Keyspace to shard names; the demo topology when None.
        password: Password of the ``shardkeeper`` account on every instance.
        rows_per_table: Rows seeded into each of the three tables per shard (about 1 KB per
            row over the three tables; 200 gives a few hundred KB per shard).
        replicas_per_shard: Replicas per shard.
    """

    user = "shardkeeper"

    def __init__(
        self,
        base_dir: Path,
        *,
        cluster: str = "demo",
        layout: Mapping[str, Sequence[str]] | None = None,
        password: str,
        rows_per_table: int = 200,
        replicas_per_shard: int = 1,
    ) -> None:
        if not password:
            raise ValueError("password must not be empty")
        self.base_dir = Path(base_dir)
        self.cluster = cluster
        self.layout: dict[str, list[str]] = {
            ks: list(shards) for ks, shards in (layout or DEFAULT_LAYOUT).items()
        }
        self.password = password
        self.rows_per_table = rows_per_table
        self.replicas_per_shard = replicas_per_shard
        self.replication_password = token_urlsafe(18)
        self.instances: list[InstanceInfo] = []
        self.cluster_yaml: Path | None = None
        """The file last written by :meth:`write_cluster_yaml`."""
        self._processes: dict[str, ManagedProcess] = {}
        self._next_server_id = 1
        self._lock = threading.Lock()

    # ---- topology -------------------------------------------------------------------------

    def shards(self) -> list[tuple[str, str]]:
        """Every ``(keyspace, shard)`` of the cluster, in layout order."""
        return [(ks, shard) for ks, shards in self.layout.items() for shard in shards]

    def primary(self, keyspace: str, shard: str) -> InstanceInfo:
        """The primary of a shard.

        Raises:
            KeyError: If the shard has no started primary.
        """
        for inst in self.instances:
            if (inst.keyspace, inst.shard, inst.role) == (keyspace, shard, "primary"):
                return inst
        raise KeyError(f"no primary for {keyspace}/{shard}")

    def replicas(self, keyspace: str, shard: str) -> list[InstanceInfo]:
        """The replicas of a shard."""
        return [
            i
            for i in self.instances
            if (i.keyspace, i.shard, i.role) == (keyspace, shard, "replica")
        ]

    def instance(self, name: str) -> InstanceInfo:
        """An instance by name.

        Raises:
            KeyError: If there is none.
        """
        for inst in self.instances:
            if inst.name == name:
                return inst
        raise KeyError(name)

    def process(self, instance: InstanceInfo) -> ManagedProcess:
        """The process of an instance (to kill it for fault injection, or read its pid)."""
        return self._processes[instance.name]

    def _plan_shard(self, keyspace: str, shard: str) -> list[InstanceInfo]:
        planned = []
        for index in range(1 + self.replicas_per_shard):
            name = instance_name(keyspace, shard, index)
            home = self.base_dir / name
            with self._lock:
                server_id = self._next_server_id
                self._next_server_id += 1
            planned.append(
                InstanceInfo(
                    name=name,
                    role="primary" if index == 0 else "replica",
                    keyspace=keyspace,
                    shard=shard,
                    host=LOOPBACK,
                    port=free_port(),
                    socket=socket_path(home / "mysqld.sock"),
                    datadir=home / "data",
                    server_id=server_id,
                )
            )
        return planned

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Install, start, wire replication and seed every shard; returns when replicas caught up.

        After :meth:`stop`, starts the same instances again on their existing datadirs.

        Raises:
            StackStartError: With the failing instance's log tail.
        """
        if self.instances:
            # Started before: bring stopped instances back on their datadirs (no reinstall).
            stopped = [i for i in self.instances if not self._processes[i.name].running]
            for inst in stopped:
                self._spawn(inst)
            self._wait_ready(stopped)
            return
        planned = [inst for ks, shard in self.shards() for inst in self._plan_shard(ks, shard)]
        try:
            self._bring_up(planned)
        except BaseException:
            self.stop()
            raise

    def add_shard(
        self, keyspace: str, shard: str, *, rows_per_table: int | None = None
    ) -> list[InstanceInfo]:
        """Add a shard (primary and replicas) to a running cluster, e.g. to test resharding.

        Args:
            keyspace: Keyspace, new or existing.
            shard: Key range of the new shard.
            rows_per_table: Rows to seed; the cluster's default when None, 0 for schema only.

        Returns:
            The new instances.
        """
        if (keyspace, shard) in self.shards():
            raise ValueError(f"shard {keyspace}/{shard} already exists")
        planned = self._plan_shard(keyspace, shard)
        self.layout.setdefault(keyspace, []).append(shard)
        try:
            self._bring_up(planned, rows_per_table=rows_per_table)
        except BaseException:
            for inst in planned:
                self._stop_instance(inst)
            self.layout[keyspace].remove(shard)
            self.instances = [i for i in self.instances if i not in planned]
            raise
        return planned

    def _bring_up(self, planned: list[InstanceInfo], *, rows_per_table: int | None = None) -> None:
        self._install(planned)
        for inst in planned:
            self._spawn(inst)
            self.instances.append(inst)
        self._wait_ready(planned)
        for inst in planned:
            if inst.role == "replica":
                self._replicate(inst, self.primary(inst.keyspace, inst.shard))
        primaries = [i for i in planned if i.role == "primary"]
        rows = self.rows_per_table if rows_per_table is None else rows_per_table
        # pymysql releases the GIL while the server works, so shards seed side by side.
        with ThreadPoolExecutor(max_workers=max(1, len(primaries))) as pool:
            list(pool.map(lambda p: self._seed(p, rows), primaries))
        self.wait_replicas_caught_up(instances=planned)

    def _install(self, planned: list[InstanceInfo]) -> None:
        """Give every planned instance a fresh datadir, copied from a bootstrapped template.

        One ``mariadb-install-db`` plus copies is several times faster than one bootstrap per
        instance on a small machine; the template already holds the accounts, and nothing in
        it is specific to an instance (``server_id`` and ports come from the command line).
        """
        template = self._template_datadir()

        def copy(inst: InstanceInfo) -> None:
            if inst.home.exists():
                shutil.rmtree(inst.home)
            (inst.home / "tmp").mkdir(parents=True)
            shutil.copytree(template, inst.datadir, symlinks=True)

        # Copies overlap well: the kernel does the work (sendfile) without the GIL.
        with ThreadPoolExecutor(max_workers=max(1, len(planned))) as pool:
            list(pool.map(copy, planned))

    def _template_datadir(self) -> Path:
        home = self.base_dir / ".template"
        datadir = home / "data"
        if (home / "complete").exists():
            return datadir
        if home.exists():
            shutil.rmtree(home)
        (home / "tmp").mkdir(parents=True)
        accounts = home / "accounts.sql"
        # Passwords reach the server through a private file, never through argv.
        fd = os.open(accounts, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self._accounts_sql())
        argv = [
            str(_mariadb_program("mariadb-install-db")),
            "--no-defaults",
            f"--datadir={datadir}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            "--skip-name-resolve",
            f"--extra-file={accounts}",
            # Not /tmp: bootstraps running side by side trip over each other's temp tables.
            f"--tmpdir={home / 'tmp'}",
            *self._innodb_options(),
            *self._user_option(),
        ]
        log_path = home / "install.log"
        try:
            with log_path.open("wb") as log:
                code = subprocess.run(
                    argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
                ).returncode
        finally:
            accounts.unlink(missing_ok=True)
        if code != 0:
            raise StackStartError(
                f"mariadb-install-db exited {code}; last lines of {log_path}:\n"
                f"{log_tail(log_path, 12)}"
            )
        (home / "complete").touch()
        return datadir

    def _accounts_sql(self) -> str:
        pw = escape_string(self.password)
        repl_pw = escape_string(self.replication_password)
        # Bootstrap runs with the grant tables disabled; loading them enables account DDL.
        lines = ["FLUSH PRIVILEGES;"]
        for host in ("localhost", LOOPBACK):
            account = f"'{self.user}'@'{host}'"
            lines += [
                f"CREATE USER {account} IDENTIFIED BY '{pw}';",
                # ALL covers RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SLAVE MONITOR,
                # REPLICATION SLAVE ADMIN: what mariadb-backup --slave-info
                # --safe-slave-backup, readiness checks and re-pointing replicas need.
                f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION;",
            ]
        lines += [
            f"CREATE USER '{REPLICATION_USER}'@'{LOOPBACK}' IDENTIFIED BY '{repl_pw}';",
            f"GRANT REPLICATION SLAVE ON *.* TO '{REPLICATION_USER}'@'{LOOPBACK}';",
        ]
        return "\n".join(lines) + "\n"

    def _innodb_options(self) -> list[str]:
        # Small by default (six instances on a CI box); a larger redo log for bench-size seeds.
        log_mb = 16 if self.rows_per_table <= 100_000 else 256
        return [
            "--innodb-buffer-pool-size=32M",
            f"--innodb-log-file-size={log_mb}M",
        ]

    @staticmethod
    def _user_option() -> list[str]:
        # mariadbd refuses to run as root unless told to; as anyone else the flag is an error.
        return ["--user=root"] if os.geteuid() == 0 else []

    def start_command(self, instance: InstanceInfo) -> list[str]:
        """The exact ``mariadbd`` command line of an instance (no secrets in it).

        Restore code can use it to start an instance again on a replaced datadir.
        """
        home = instance.home
        return [
            str(_mariadb_program("mariadbd")),
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
            *self._innodb_options(),
            *self._user_option(),
        ]

    def _spawn(self, instance: InstanceInfo) -> None:
        (instance.home / "tmp").mkdir(parents=True, exist_ok=True)
        proc = ManagedProcess(
            f"mariadbd {instance.name}",
            self.start_command(instance),
            log_path=instance.log_path,
            cwd=instance.home,
        )
        proc.start()
        self._processes[instance.name] = proc

    def _wait_ready(self, instances: Iterable[InstanceInfo]) -> None:
        pending = list(instances)
        deadline = time.monotonic() + _READY_TIMEOUT_S
        last_error: dict[str, str] = {}
        while pending and time.monotonic() < deadline:
            for inst in list(pending):
                self._processes[inst.name].ensure_running()
                try:
                    self.connect(inst).close()
                    pending.remove(inst)
                except pymysql.MySQLError as exc:
                    last_error[inst.name] = str(exc)
            if pending:
                time.sleep(0.1)
        if pending:
            inst = pending[0]
            raise self._processes[inst.name].failure(
                f"not accepting connections after {_READY_TIMEOUT_S:.0f} s "
                f"({last_error.get(inst.name, 'no attempt')})"
            )

    def start_instance(self, instance: InstanceInfo) -> None:
        """Start a stopped instance again with its original command line and wait for it.

        Raises:
            StackStartError: With its log tail if it does not come up.
        """
        proc = self._processes.get(instance.name)
        if proc is not None and proc.running:
            return
        self._spawn(instance)
        self._wait_ready([instance])

    def stop_instance(self, instance: InstanceInfo) -> None:
        """Shut one instance down cleanly (SIGTERM, then SIGKILL after a minute)."""
        self._stop_instance(instance)

    def _stop_instance(self, instance: InstanceInfo) -> None:
        proc = self._processes.get(instance.name)
        if proc is not None:
            proc.stop(_STOP_TIMEOUT_S)

    def stop(self) -> None:
        """Shut down every instance this cluster started, side by side; idempotent."""
        procs = list(self._processes.values())
        for proc in procs:
            proc.request_stop()
        for proc in procs:
            proc.stop(_STOP_TIMEOUT_S)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- SQL ------------------------------------------------------------------------------

    def connect(
        self, instance: InstanceInfo, *, database: str | None = None, tcp: bool = False
    ) -> pymysql.Connection[pymysql.cursors.Cursor]:
        """A PyMySQL connection as ``shardkeeper`` (autocommit), over the socket by default.

        Args:
            instance: The instance.
            database: Default database, if any.
            tcp: Connect over 127.0.0.1:port instead of the unix socket.

        Returns:
            An open connection; the caller closes it.
        """
        where: dict[str, Any] = (
            {"host": instance.host, "port": instance.port}
            if tcp
            else {"unix_socket": str(instance.socket)}
        )
        return pymysql.connect(
            user=self.user,
            password=self.password,
            database=database,
            autocommit=True,
            connect_timeout=5,
            **where,
        )

    def _replicate(self, replica: InstanceInfo, primary: InstanceInfo) -> None:
        pw = escape_string(self.replication_password)
        with self.connect(replica) as conn, conn.cursor() as cur:
            cur.execute(
                f"CHANGE MASTER TO MASTER_HOST='{LOOPBACK}', MASTER_PORT={primary.port}, "
                f"MASTER_USER='{REPLICATION_USER}', MASTER_PASSWORD='{pw}', "
                "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1"
            )
            cur.execute("START SLAVE")

    def _seed(self, primary: InstanceInfo, rows: int) -> None:
        db = primary.keyspace
        tag = f"{self.cluster}/{primary.keyspace}/{primary.shard}"
        with self.connect(primary) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
            cur.execute(f"USE `{db}`")
            cur.execute(
                "CREATE TABLE IF NOT EXISTS customers (id BIGINT PRIMARY KEY,"
                " email VARCHAR(128) NOT NULL, name VARCHAR(64) NOT NULL,"
                " created_at DATETIME NOT NULL) ENGINE=InnoDB"
            )
            cur.execute(
                "CREATE TABLE IF NOT EXISTS orders (id BIGINT PRIMARY KEY,"
                " customer_id BIGINT NOT NULL, amount_cents BIGINT NOT NULL,"
                " status VARCHAR(16) NOT NULL, note VARCHAR(255) NOT NULL,"
                " KEY by_customer (customer_id)) ENGINE=InnoDB"
            )
            cur.execute(
                "CREATE TABLE IF NOT EXISTS events (id BIGINT PRIMARY KEY,"
                " kind VARCHAR(32) NOT NULL, payload VARBINARY(1024) NOT NULL) ENGINE=InnoDB"
            )
            # The SEQUENCE engine generates rows inside the server: GBs seed at disk speed
            # instead of at client round-trip speed, and the tag makes every shard's data
            # different yet reproducible.
            for first in range(1, rows + 1, _SEED_BATCH_ROWS):
                last = min(rows, first + _SEED_BATCH_ROWS - 1)
                # Only integers are formatted into the SQL; the tag is a bound parameter.
                seq = f"seq_{int(first)}_to_{int(last)}"
                for statement, params in (
                    (_SEED_CUSTOMERS.format(seq=seq), (tag,)),
                    (_SEED_ORDERS.format(seq=seq, rows=max(int(rows), 1)), (tag, tag)),
                    (_SEED_EVENTS.format(seq=seq), (tag,)),
                ):
                    cur.execute(statement, params)

    def wait_replicas_caught_up(
        self,
        timeout: float = _CATCH_UP_TIMEOUT_S,
        *,
        instances: Iterable[InstanceInfo] | None = None,
    ) -> None:
        """Wait until every replica has applied its primary's current GTID position.

        Args:
            timeout: Seconds for the whole wait.
            instances: Limit the wait to these instances' shards; all shards when None.

        Raises:
            StackStartError: If a replication thread stopped with an error, or on timeout.
        """
        shards = {(i.keyspace, i.shard) for i in (instances or self.instances)}
        deadline = time.monotonic() + timeout
        for keyspace, shard in sorted(shards):
            primary = self.primary(keyspace, shard)
            with self.connect(primary) as conn, conn.cursor() as cur:
                cur.execute("SELECT @@gtid_binlog_pos")
                row = cur.fetchone()
            target = str(row[0]) if row else ""
            for replica in self.replicas(keyspace, shard):
                self._wait_replica(replica, target, deadline)

    def _wait_replica(self, replica: InstanceInfo, target: str, deadline: float) -> None:
        with self.connect(replica) as conn, conn.cursor() as cur:
            while True:
                cur.execute("SELECT MASTER_GTID_WAIT(%s, 1)", (target,))
                row = cur.fetchone()
                if row is not None and row[0] == 0:
                    return
                status = self.slave_status(replica)
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

    def slave_status(self, instance: InstanceInfo) -> dict[str, Any]:
        """``SHOW SLAVE STATUS`` of an instance as a dict (empty for a non-replica)."""
        with self.connect(instance) as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute("SHOW SLAVE STATUS")
            row = cur.fetchone()
        return dict(row) if row else {}

    def table_checksums(self, instance: InstanceInfo) -> dict[str, int]:
        """``CHECKSUM TABLE`` of every base table in the instance's keyspace database.

        Args:
            instance: The instance.

        Returns:
            ``{"<db>.<table>": checksum}``; tables added by tests are included.
        """
        with self.connect(instance) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = %s AND table_type = 'BASE TABLE' ORDER BY table_name",
                (instance.keyspace,),
            )
            tables = [str(r[0]) for r in cur.fetchall()]
            if not tables:
                return {}
            names = ", ".join(f"`{instance.keyspace}`.`{t}`" for t in tables)
            cur.execute(f"CHECKSUM TABLE {names} EXTENDED")
            return {str(name): int(value) for name, value in cur.fetchall()}

    # ---- Cluster document -----------------------------------------------------------------

    def cluster_document(self, password_env: str) -> dict[str, Any]:
        """The shardkeeper ``kind: Cluster`` document describing this cluster.

        Args:
            password_env: Environment variable from which shardkeeper reads the password.

        Returns:
            The document as a plain dict (camelCase keys), ready for YAML.
        """
        keyspaces = []
        for keyspace, shards in self.layout.items():
            shard_docs = []
            for shard in shards:
                members = [self.primary(keyspace, shard), *self.replicas(keyspace, shard)]
                shard_docs.append(
                    {
                        "name": shard,
                        "instances": [
                            {
                                "name": i.name,
                                "role": i.role,
                                "host": i.host,
                                "port": i.port,
                                "socket": str(i.socket),
                                "datadir": str(i.datadir),
                                "startCommand": self.start_command(i),
                            }
                            for i in members
                        ],
                    }
                )
            keyspaces.append({"name": keyspace, "shards": shard_docs})
        return {
            "apiVersion": "shardkeeper.io/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": self.cluster},
            "spec": {
                "credentials": {"user": self.user, "passwordFrom": {"env": password_env}},
                "keyspaces": keyspaces,
            },
        }

    def write_cluster_yaml(self, path: Path | str, password_env: str) -> Path:
        """Write :meth:`cluster_document` as YAML.

        Args:
            path: Target file (parents are created).
            password_env: Environment variable holding the password.

        Returns:
            The path written.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            yaml.safe_dump(self.cluster_document(password_env), sort_keys=False, width=100)
        )
        self.cluster_yaml = target
        return target
