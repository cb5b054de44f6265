"""A throwaway ``mariadbd`` started on a restored datadir, with the launcher's own command line.

Restore tests need a fresh server on the files a restore produced: the same binary and
options as the cluster's instances (``MariaDBCluster.start_command``), its own datadir,
socket, port and server id, and ``--skip-slave-start`` since a replica's backup carries its
replication settings.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import pymysql

from fixtures.wait import eventually_sync
from shardkeeper.control.stack.binaries import ManagedProcess
from shardkeeper.control.stack.mariadb import InstanceInfo, MariaDBCluster
from shardkeeper.control.stack.ports import free_port, socket_path

_OVERRIDDEN = ("--datadir=", "--socket=", "--port=", "--pid-file=", "--tmpdir=", "--server-id=")


class RestoredServer:
    """One mariadbd on ``datadir`` (stopped on exit)."""

    def __init__(
        self, cluster: MariaDBCluster, like: InstanceInfo, datadir: Path, home: Path, sid: int
    ) -> None:
        self.cluster = cluster
        self.datadir = datadir
        self.home = home
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        self.socket = socket_path(home / "mysqld.sock")
        self.port = free_port()
        argv = [a for a in cluster.start_command(like) if not a.startswith(_OVERRIDDEN)]
        argv[2:2] = [
            f"--datadir={datadir}",
            f"--socket={self.socket}",
            f"--port={self.port}",
            f"--pid-file={home / 'mysqld.pid'}",
            f"--tmpdir={home / 'tmp'}",
            f"--server-id={sid}",
            "--skip-slave-start",
        ]
        self.process = ManagedProcess(
            f"restored mariadbd {home.name}", argv, log_path=home / "error.log", cwd=home
        )

    def start(self, timeout: float = 60.0) -> None:
        self.process.start()

        def accepting() -> bool:
            self.process.ensure_running()
            self.connect().close()
            return True

        try:
            eventually_sync(accepting, timeout, "connections", interval=0.1,
                            ignore=(pymysql.MySQLError,))
        except AssertionError:
            raise self.process.failure("not accepting connections") from None

    def connect(self) -> pymysql.Connection[pymysql.cursors.Cursor]:
        return pymysql.connect(
            unix_socket=str(self.socket),
            user=self.cluster.user,
            password=self.cluster.password,
            autocommit=True,
            connect_timeout=5,
        )

    def checksums(self, database: str) -> dict[str, int]:
        return table_checksums(self.connect(), database)

    def stop(self) -> None:
        self.process.stop(60.0)

    def __enter__(self) -> RestoredServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def table_checksums(
    conn: pymysql.Connection[pymysql.cursors.Cursor], database: str
) -> dict[str, int]:
    """``CHECKSUM TABLE … EXTENDED`` of every base table of ``database`` (closes ``conn``)."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = %s AND table_type = 'BASE TABLE' ORDER BY table_name",
            (database,),
        )
        tables = [str(r[0]) for r in cur.fetchall()]
        if not tables:
            return {}
        names = ", ".join(f"`{database}`.`{t}`" for t in tables)
        cur.execute(f"CHECKSUM TABLE {names} EXTENDED")
        return {str(name): int(value) for name, value in cur.fetchall()}
