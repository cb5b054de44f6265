"""The contract between the backup pipeline and a backup engine.

An engine knows how to build its command line (secrets in a private file, never in argv),
how to tell success from its log, and how to read the consistent point out of the stream it
writes (an observer fed the raw stream as it passes). It does not read the stream, compress,
encrypt, upload, hash or log; the pipeline in ``datapath/backup/`` does that, identically
for every engine, so a new engine (e.g. xtrabackup) only adds a module here and a line in
the registry. Physical engines also say how to prepare and copy back a staged backup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from shardkeeper.contracts.agent import AgentBackupRequest, BinlogPosition

StreamFormat = Literal["xbstream", "sql"]


@dataclass(frozen=True)
class EngineCommand:
    """A ready-to-run engine invocation.

    Attributes:
        argv: The command line; it never contains a secret (``ps`` shows it).
        env: Extra environment variables for the child, or empty.
        secrets: Values to redact from anything the engine prints.
    """

    argv: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class StreamFacts:
    """What the backup says about itself (from the stream it wrote)."""

    binlog: BinlogPosition = field(default_factory=BinlogPosition)
    replica_source_binlog: BinlogPosition | None = None
    server_version: str | None = None
    engine_version: str | None = None


class StreamObserver(Protocol):
    """Sees the raw stream in order (from the hashing thread) and never fails the backup."""

    @property
    def failed(self) -> str | None:
        """Why the observer gave up, if it did."""
        ...

    def feed(self, data: memoryview) -> None:
        """Look at the next piece of the stream."""
        ...

    def facts(self) -> StreamFacts:
        """What was learned from the stream."""
        ...


class NullObserver:
    """An observer that learns nothing (engines whose stream says nothing useful)."""

    failed: str | None = None

    def feed(self, data: memoryview) -> None:
        """Ignore ``data``."""

    def facts(self) -> StreamFacts:
        """No facts."""
        return StreamFacts()


class Engine(Protocol):
    """A backup engine that writes one stream to stdout."""

    name: str
    """Engine name as used in requests (``mariabackup``)."""

    format: StreamFormat
    """What the stream is: an ``xbstream`` (physical) or ``sql`` (a logical dump)."""

    def version(self) -> str | None:
        """The engine's version string, or None when it cannot say."""
        ...

    def command(self, request: AgentBackupRequest, workdir: Path) -> EngineCommand:
        """Build the invocation; private files go into ``workdir`` (mode 0700, removed later).

        Raises:
            SpecInvalid: ``request.extra_flags`` would break streaming or leak a secret.
            EngineUnsupported: The engine binary is missing.
        """
        ...

    def succeeded(self, returncode: int, saw_success_line: bool) -> bool:
        """Whether a finished run produced a complete backup."""
        ...

    def is_success_line(self, line: str) -> bool:
        """Whether one line of the engine's log is its final success message."""
        ...

    def observer(self) -> StreamObserver:
        """A fresh observer of this engine's stream."""
        ...


class PhysicalEngine(Engine, Protocol):
    """An xbstream engine that can also prepare and copy back what it streamed."""

    def prepare_command(self, target_dir: Path, use_memory_bytes: int | None) -> list[str]:
        """Argv that turns an extracted backup into a consistent datadir, in place."""
        ...

    def copy_back_command(
        self, staged_dir: Path, datadir: Path, *, move: bool, force_non_empty: bool
    ) -> list[str]:
        """Argv that puts a prepared backup into ``datadir``."""
        ...

    def staged_facts(self, staged_dir: Path) -> StreamFacts:
        """Consistent point and versions from an extracted backup's info files."""
        ...
