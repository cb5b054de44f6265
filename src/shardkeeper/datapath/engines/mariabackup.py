"""mariadb-backup (MariaDB's fork of xtrabackup) as a streaming engine.

This module owns the mariadb-backup command line, its private defaults file, the rules for
``extra_flags`` and the parsing of the info files it streams. The database password goes
only into a mode-0600 defaults file inside the pipeline's private work directory: never on
the command line (``ps`` shows argv) and never in a log line or an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from shardkeeper.contracts.agent import AgentBackupRequest, BinlogPosition
from shardkeeper.contracts.common import Role
from shardkeeper.datapath.engines.base import EngineCommand, StreamFacts, StreamFormat
from shardkeeper.datapath.engines.binaries import binary_version, find_binary
from shardkeeper.datapath.engines.xbstream import XbstreamTap
from shardkeeper.datapath.tools.client_options import write_client_defaults
from shardkeeper.errors import SpecInvalid

BINARIES = ("mariadb-backup", "mariabackup")
BINLOG_INFO = "xtrabackup_binlog_info"
SLAVE_INFO = "xtrabackup_slave_info"
BACKUP_INFO = "xtrabackup_info"
SUCCESS_MARKER = "completed OK!"

# Options shardkeeper sets itself or that would break streaming, leak a secret through argv
# or turn the run into something other than a backup. Compared after normalising
# underscores to dashes, as the server's option parser does.
FORBIDDEN_FLAGS = frozenset(
    {
        "stream",
        "target-dir",
        "defaults-file",
        "defaults-extra-file",
        "defaults-group-suffix",
        "no-defaults",
        "print-defaults",
        "password",
        "user",
        "host",
        "port",
        "socket",
        "backup",
        "prepare",
        "copy-back",
        "move-back",
        "export",
        "parallel",
        "slave-info",
        "safe-slave-backup",
        "extra-lsndir",
        "incremental-basedir",
        "incremental-dir",
        "incremental-lsn",
        "version",
        "help",
    }
)
_MODIFIERS = ("loose-", "skip-", "disable-", "enable-", "maximum-", "no-")
_FLAG_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_VERSION = re.compile(r"server\s+(\S+)")
_INFO_LINE = re.compile(r"^\s*([a-z_]+)\s*=\s*(.*?)\s*$")
_SLAVE_GTID = re.compile(r"gtid_slave_pos\s*=\s*'([^']*)'", re.IGNORECASE)
_SLAVE_FILE = re.compile(r"MASTER_LOG_FILE\s*=\s*'([^']*)'", re.IGNORECASE)
_SLAVE_POS = re.compile(r"MASTER_LOG_POS\s*=\s*(\d+)", re.IGNORECASE)


def normalise_flags(extra_flags: Mapping[str, str]) -> list[str]:
    """Turn ``extra_flags`` into ``--name[=value]`` arguments, rejecting unsafe ones.

    Args:
        extra_flags: Option name (with or without leading dashes) to value; an empty value
            renders a bare ``--name``.

    Raises:
        SpecInvalid: A flag is malformed, or would break streaming or carry a secret.
    """
    args: list[str] = []
    for raw_name, value in sorted(extra_flags.items()):
        name = raw_name.removeprefix("--").replace("_", "-").lower()
        if not _FLAG_NAME.match(name) or len(name) < 2:
            raise SpecInvalid(
                f"extraFlags: {raw_name!r} is not a long option name (use e.g. 'use-memory')"
            )
        base = name
        while True:  # the option parser's own modifiers, e.g. --loose-skip-password
            stripped = base
            for modifier in _MODIFIERS:
                stripped = stripped.removeprefix(modifier)
            if stripped == base:
                break
            base = stripped
        # The parser also accepts any unambiguous prefix (--pass means --password), so a
        # prefix of a forbidden option is as forbidden as the option.
        if any(f.startswith(base) for f in FORBIDDEN_FLAGS) or base.startswith("password"):
            raise SpecInvalid(
                f"extraFlags: --{name} is set by shardkeeper or breaks streaming; "
                f"forbidden: {', '.join(sorted(FORBIDDEN_FLAGS))}"
            )
        if any(c in value for c in "\n\r\0"):
            raise SpecInvalid(f"extraFlags: the value of --{name} contains a line break or NUL")
        args.append(f"--{name}={value}" if value != "" else f"--{name}")
    return args


def parse_binlog_info(content: bytes) -> BinlogPosition:
    """Parse ``xtrabackup_binlog_info``: ``file<TAB>position[<TAB>gtid]``."""
    fields = content.decode("utf-8", errors="replace").strip().split("\t")
    if not fields or not fields[0]:
        return BinlogPosition()
    position = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
    gtid = fields[2].strip() or None if len(fields) > 2 else None
    return BinlogPosition(file=fields[0].strip(), position=position, gtid=gtid)


def parse_slave_info(content: bytes) -> BinlogPosition | None:
    """Parse ``xtrabackup_slave_info`` (GTID ``SET GLOBAL gtid_slave_pos`` or file/position)."""
    text = content.decode("utf-8", errors="replace")
    gtid, file, pos = _SLAVE_GTID.search(text), _SLAVE_FILE.search(text), _SLAVE_POS.search(text)
    if not (gtid or file or pos):
        return None
    return BinlogPosition(
        gtid=gtid.group(1) or None if gtid else None,
        file=file.group(1) if file else None,
        position=int(pos.group(1)) if pos else None,
    )


def parse_backup_info(content: bytes) -> dict[str, str]:
    """Parse ``xtrabackup_info`` (``key = value`` lines)."""
    info: dict[str, str] = {}
    for line in content.decode("utf-8", errors="replace").splitlines():
        match = _INFO_LINE.match(line)
        if match:
            info[match.group(1)] = match.group(2)
    return info


class MariaBackupEngine:
    """``mariadb-backup --backup --stream=xbstream``.

    The binlog position and GTID come from the backup's own ``xtrabackup_binlog_info`` (and
    ``xtrabackup_slave_info`` on a replica) read out of the stream as it passes, not from the
    engine's log messages: those files are what a restore will see.
    """

    name = "mariabackup"
    format: StreamFormat = "xbstream"
    stream_files = frozenset({BINLOG_INFO, SLAVE_INFO, BACKUP_INFO})

    def version(self) -> str | None:
        """Version from ``mariadb-backup --version`` (e.g. ``10.11.19-MariaDB``)."""
        return binary_version(BINARIES, _VERSION)

    def command(self, request: AgentBackupRequest, workdir: Path) -> EngineCommand:
        """Write the 0600 defaults file into ``workdir`` and return the argv.

        Raises:
            SpecInvalid: Unsafe ``extra_flags``, a bad ``parallel`` or an unresolvable
                password reference.
            EngineUnsupported: mariadb-backup is not installed.
        """
        if request.parallel < 1:
            raise SpecInvalid(f"parallel must be at least 1, got {request.parallel}")
        extra = normalise_flags(request.extra_flags)
        binary = find_binary(BINARIES)
        source = request.source
        defaults = workdir / "engine.cnf"
        password = write_client_defaults(defaults, source, request.credentials)
        argv = [
            binary,
            # Must be the first option, or mariadb-backup ignores it.
            f"--defaults-extra-file={defaults}",
            "--backup",
            "--stream=xbstream",
            f"--target-dir={workdir / 'target'}",
            f"--parallel={request.parallel}",
        ]
        if source.role == Role.REPLICA:
            argv += ["--slave-info", "--safe-slave-backup"]
        argv += extra
        return EngineCommand(argv=argv, secrets=(password,) if password else ())

    def is_success_line(self, line: str) -> bool:
        """mariadb-backup's last line on success ends with ``completed OK!``."""
        return line.rstrip().endswith(SUCCESS_MARKER)

    def succeeded(self, returncode: int, saw_success_line: bool) -> bool:
        """Exit status 0 *and* the success line: either alone has lied before."""
        return returncode == 0 and saw_success_line

    def observer(self) -> _InfoFilesObserver:
        """Captures the info files out of the xbstream as it passes."""
        return _InfoFilesObserver(self)

    def prepare_command(self, target_dir: Path, use_memory_bytes: int | None) -> list[str]:
        """``mariadb-backup --prepare`` (applies the redo log in place)."""
        argv = [find_binary(BINARIES), "--prepare", f"--target-dir={target_dir}"]
        if use_memory_bytes:
            argv.append(f"--use-memory={use_memory_bytes}")
        return argv

    def copy_back_command(
        self, staged_dir: Path, datadir: Path, *, move: bool, force_non_empty: bool
    ) -> list[str]:
        """``--move-back`` (rename, same filesystem) or ``--copy-back`` into ``datadir``."""
        argv = [
            find_binary(BINARIES),
            "--move-back" if move else "--copy-back",
            f"--target-dir={staged_dir}",
            f"--datadir={datadir}",
        ]
        if force_non_empty:
            argv.append("--force-non-empty-directories")
        return argv

    def staged_facts(self, staged_dir: Path) -> StreamFacts:
        """:meth:`facts` from the info files of an extracted backup."""
        files = {}
        for name in self.stream_files:
            path = staged_dir / name
            if path.is_file():
                files[name] = path.read_bytes()
        return self.facts(files)

    def facts(self, files: Mapping[str, bytes]) -> StreamFacts:
        """Binlog/GTID, replica coordinates and versions from the streamed info files."""
        binlog = parse_binlog_info(files[BINLOG_INFO]) if BINLOG_INFO in files else None
        replica = parse_slave_info(files[SLAVE_INFO]) if SLAVE_INFO in files else None
        info = parse_backup_info(files[BACKUP_INFO]) if BACKUP_INFO in files else {}
        if binlog is None and "binlog_pos" in info:
            binlog = _binlog_from_info(info["binlog_pos"])
        return StreamFacts(
            binlog=binlog or BinlogPosition(),
            replica_source_binlog=replica,
            server_version=info.get("server_version") or None,
            engine_version=info.get("tool_version") or None,
        )


_INFO_BINLOG = re.compile(
    r"filename '([^']*)', position '(\d+)'(?:, GTID of the last change '([^']*)')?"
)


def _binlog_from_info(value: str) -> BinlogPosition | None:
    """``binlog_pos`` of xtrabackup_info, used only if xtrabackup_binlog_info is missing."""
    match = _INFO_BINLOG.search(value)
    if not match:
        return None
    return BinlogPosition(
        file=match.group(1), position=int(match.group(2)), gtid=match.group(3) or None
    )


class _InfoFilesObserver:
    """Feeds an :class:`XbstreamTap` and turns what it captured into facts."""

    def __init__(self, engine: MariaBackupEngine) -> None:
        self._engine = engine
        self._tap = XbstreamTap(engine.stream_files)

    @property
    def failed(self) -> str | None:
        return self._tap.failed

    def feed(self, data: memoryview) -> None:
        self._tap.feed(data)

    def facts(self) -> StreamFacts:
        return self._engine.facts(self._tap.files)
