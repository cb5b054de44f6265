"""``mariadb-dump`` as a streaming engine: a consistent logical dump of whole databases.

This module owns the dump's command line and the parsing of its header. The dump is taken
in one transaction (``--single-transaction``) with routines, events and triggers, and its
header records the binlog file, position and GTID of that snapshot (``--master-data=2
--gtid``, written as comments). Without a database list every database except the system
ones (``mysql``, ``sys``) is dumped: accounts and privileges belong to the target instance.
The password goes through the same 0600 defaults file as for mariadb-backup.
"""

from __future__ import annotations

import re
from pathlib import Path

from shardkeeper.contracts.agent import AgentBackupRequest, BinlogPosition
from shardkeeper.datapath.engines.base import EngineCommand, StreamFacts, StreamFormat
from shardkeeper.datapath.engines.binaries import binary_version, find_binary
from shardkeeper.datapath.engines.mariabackup import normalise_flags
from shardkeeper.datapath.tools.client_options import write_client_defaults
from shardkeeper.errors import SpecInvalid

BINARIES = ("mariadb-dump", "mysqldump")
SYSTEM_DATABASES = ("mysql", "sys")
HEADER_BYTES = 64 << 10  # the header (versions, coordinates) is within the first few KB
# With --gtid, mariadb-dump prints the snapshot's gtid_slave_pos at the *end* of the dump.
TRAILER_BYTES = 8 << 10
# Options shardkeeper sets or that would change what the dump is; mariadb-backup's list
# covers the connection and secret ones.
_FORBIDDEN_DUMP_FLAGS = frozenset(
    {
        "result-file",
        "tab",
        "xml",
        "databases",
        "all-databases",
        "master-data",
        "dump-slave",
        "single-transaction",
        "lock-all-tables",
        "lock-tables",
        "no-data",
        "where",
    }
)
_DB_NAME = re.compile(r"^[^/\\.\x00`]{1,64}$")
_CHANGE_MASTER = re.compile(
    r"CHANGE MASTER TO MASTER_LOG_FILE='([^']+)',\s*MASTER_LOG_POS=(\d+)", re.IGNORECASE
)
_GTID = re.compile(r"SET GLOBAL gtid_slave_pos\s*=\s*'([^']*)'", re.IGNORECASE)
_SERVER_VERSION = re.compile(r"^-- Server version\s+(\S+)", re.MULTILINE)
_DUMP_VERSION = re.compile(r"Distrib (\S+?),")


def parse_dump_header(text: str) -> StreamFacts:
    """Versions and the snapshot's coordinates from a dump's first (and last) lines."""
    change = _CHANGE_MASTER.search(text)
    gtid = _GTID.search(text)
    server = _SERVER_VERSION.search(text)
    dump = _DUMP_VERSION.search(text.partition("\n")[0])
    return StreamFacts(
        binlog=BinlogPosition(
            file=change.group(1) if change else None,
            position=int(change.group(2)) if change else None,
            gtid=(gtid.group(1) or None) if gtid else None,
        ),
        server_version=server.group(1) if server else None,
        engine_version=dump.group(1) if dump else None,
    )


class _HeaderObserver:
    """Keeps the first and the last bytes of the dump: its header and its trailer."""

    failed: str | None = None

    def __init__(self) -> None:
        self._head = bytearray()
        self._tail = bytearray()

    def feed(self, data: memoryview) -> None:
        room = HEADER_BYTES - len(self._head)
        if room > 0:
            self._head += data[:room]
        self._tail += data[-TRAILER_BYTES:]
        if len(self._tail) > TRAILER_BYTES:
            del self._tail[:-TRAILER_BYTES]

    def facts(self) -> StreamFacts:
        head = self._head.decode("utf-8", errors="replace")
        tail = self._tail.decode("utf-8", errors="replace")
        return parse_dump_header(head + "\n" + tail)


class LogicalEngine:
    """``mariadb-dump --single-transaction`` of all or selected databases."""

    name = "logical"
    format: StreamFormat = "sql"

    def version(self) -> str | None:
        """Version from ``mariadb-dump --version`` (its ``Distrib``)."""
        return binary_version(BINARIES, _DUMP_VERSION)

    def command(self, request: AgentBackupRequest, workdir: Path) -> EngineCommand:
        """Write the 0600 defaults file into ``workdir`` and return the argv.

        Raises:
            SpecInvalid: Unsafe ``extra_flags`` or database names, or an unresolvable
                password reference.
            EngineUnsupported: mariadb-dump is not installed.
        """
        for name in request.extra_flags:
            base = name.removeprefix("--").replace("_", "-").lower()
            if any(f.startswith(base) or base.startswith(f) for f in _FORBIDDEN_DUMP_FLAGS):
                raise SpecInvalid(
                    f"extraFlags: --{base} is set by shardkeeper for logical backups; "
                    f"forbidden: {', '.join(sorted(_FORBIDDEN_DUMP_FLAGS))}"
                )
        extra = normalise_flags(request.extra_flags)
        for db in request.databases:
            if not _DB_NAME.match(db):
                raise SpecInvalid(f"databases: {db!r} is not a valid database name")
        binary = find_binary(BINARIES)
        defaults = workdir / "engine.cnf"
        password = write_client_defaults(defaults, request.source, request.credentials)
        argv = [
            binary,
            f"--defaults-extra-file={defaults}",  # must be the first option
            "--single-transaction",
            "--quick",
            "--routines",
            "--events",
            "--triggers",
            "--hex-blob",
            "--master-data=2",
            "--gtid",
            *extra,
        ]
        if request.databases:
            argv += ["--databases", "--", *request.databases]
        else:
            argv += ["--all-databases", *(f"--ignore-database={d}" for d in SYSTEM_DATABASES)]
        return EngineCommand(argv=argv, secrets=(password,) if password else ())

    def is_success_line(self, line: str) -> bool:
        """mariadb-dump prints nothing on success."""
        return False

    def succeeded(self, returncode: int, saw_success_line: bool) -> bool:
        """mariadb-dump's exit status is reliable (it exits non-zero on any SQL error)."""
        return returncode == 0

    def observer(self) -> _HeaderObserver:
        """Reads versions and coordinates from the dump's header."""
        return _HeaderObserver()
