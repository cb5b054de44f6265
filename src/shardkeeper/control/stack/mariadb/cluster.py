""":class:`MariaDBCluster`: primaries and GTID replicas for every shard of a layout.

The cluster owns the topology (which instances exist, their ports and server ids) and the
processes; every other aspect lives in the module named after it and is called from here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from secrets import token_urlsafe
from types import TracebackType
from typing import Any, Self

from shardkeeper.control.stack.binaries import ManagedProcess
from shardkeeper.control.stack.mariadb import cluster_yaml
from shardkeeper.control.stack.mariadb.accounts import SHARDKEEPER_USER, accounts_sql
from shardkeeper.control.stack.mariadb.checksums import table_checksums
from shardkeeper.control.stack.mariadb.install import install, template_datadir
from shardkeeper.control.stack.mariadb.instance import (
    STOP_TIMEOUT_S,
    Connection,
    InstanceInfo,
    connect,
    instance_name,
    server_options,
    spawn,
    start_command,
    stop_by_pid_file,
    wait_ready,
)
from shardkeeper.control.stack.mariadb.replication import (
    CATCH_UP_TIMEOUT_S,
    replicate,
    slave_status,
    wait_caught_up,
)
from shardkeeper.control.stack.mariadb.seed import seed
from shardkeeper.control.stack.ports import LOOPBACK, free_port, socket_path

DEFAULT_LAYOUT: Mapping[str, Sequence[str]] = {"commerce": ["-"], "customer": ["-80", "80-"]}


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

    user = SHARDKEEPER_USER

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
        template = template_datadir(
            self.base_dir / ".template",
            accounts_sql(self.user, self.password, self.replication_password),
            server_options(self.rows_per_table),
        )
        install(planned, template)
        for inst in planned:
            self._spawn(inst)
            self.instances.append(inst)
        self._wait_ready(planned)
        for inst in planned:
            if inst.role == "replica":
                primary = self.primary(inst.keyspace, inst.shard)
                replicate(self.connect, inst, primary, self.replication_password)
        primaries = [i for i in planned if i.role == "primary"]
        rows = self.rows_per_table if rows_per_table is None else rows_per_table
        # pymysql releases the GIL while the server works, so shards seed side by side.
        with ThreadPoolExecutor(max_workers=max(1, len(primaries))) as pool:
            list(pool.map(lambda p: seed(self.connect, p, self.cluster, rows), primaries))
        self.wait_replicas_caught_up(instances=planned)

    def start_command(self, instance: InstanceInfo) -> list[str]:
        """The exact ``mariadbd`` command line of an instance (no secrets in it).

        Restore code can use it to start an instance again on a replaced datadir.
        """
        return start_command(instance, self.rows_per_table)

    def _spawn(self, instance: InstanceInfo) -> None:
        self._processes[instance.name] = spawn(instance, self.start_command(instance))

    def _wait_ready(self, instances: Iterable[InstanceInfo]) -> None:
        wait_ready(instances, self._processes, self.connect)

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
            proc.stop(STOP_TIMEOUT_S)

    def stop(self) -> None:
        """Shut down every instance this cluster started, side by side; idempotent."""
        procs = list(self._processes.values())
        for proc in procs:
            proc.request_stop()
        for proc in procs:
            proc.stop(STOP_TIMEOUT_S)
        for instance in self.instances:  # servers a restore restarted are not in _processes
            stop_by_pid_file(instance, STOP_TIMEOUT_S)

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
    ) -> Connection:
        """A PyMySQL connection as ``shardkeeper`` (autocommit), over the socket by default.

        Args:
            instance: The instance.
            database: Default database, if any.
            tcp: Connect over 127.0.0.1:port instead of the unix socket.

        Returns:
            An open connection; the caller closes it.
        """
        return connect(
            instance, user=self.user, password=self.password, database=database, tcp=tcp
        )

    def wait_replicas_caught_up(
        self,
        timeout: float = CATCH_UP_TIMEOUT_S,
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
            wait_caught_up(self.connect, primary, self.replicas(keyspace, shard), deadline)

    def slave_status(self, instance: InstanceInfo) -> dict[str, Any]:
        """``SHOW SLAVE STATUS`` of an instance as a dict (empty for a non-replica)."""
        return slave_status(self.connect, instance)

    def table_checksums(self, instance: InstanceInfo) -> dict[str, int]:
        """``CHECKSUM TABLE`` of every base table in the instance's keyspace database.

        Args:
            instance: The instance.

        Returns:
            ``{"<db>.<table>": checksum}``; tables added by tests are included.
        """
        return table_checksums(self.connect, instance)

    # ---- Cluster document -----------------------------------------------------------------

    def cluster_document(self, password_env: str) -> dict[str, Any]:
        """The shardkeeper ``kind: Cluster`` document describing this cluster.

        Args:
            password_env: Environment variable from which shardkeeper reads the password.

        Returns:
            The document as a plain dict (camelCase keys), ready for YAML.
        """
        keyspaces = {
            keyspace: {
                shard: [self.primary(keyspace, shard), *self.replicas(keyspace, shard)]
                for shard in shards
            }
            for keyspace, shards in self.layout.items()
        }
        return cluster_yaml.cluster_document(
            name=self.cluster,
            user=self.user,
            password_env=password_env,
            keyspaces=keyspaces,
            start_command=self.start_command,
        )

    def write_cluster_yaml(self, path: Path | str, password_env: str) -> Path:
        """Write :meth:`cluster_document` as YAML.

        Args:
            path: Target file (parents are created).
            password_env: Environment variable holding the password.

        Returns:
            The path written.
        """
        self.cluster_yaml = cluster_yaml.write_yaml(path, self.cluster_document(password_env))
        return self.cluster_yaml
