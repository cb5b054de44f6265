"""The contract between the backup pipeline and a physical backup engine.

An engine knows how to build its command line (secrets in a private file, never in argv),
how to tell success from its log, and how to read the consistent point out of the files it
writes into its own stream. It does not read the stream, upload, hash or log; the pipeline
in ``datapath/backup.py`` does that, identically for every engine, so a new engine (e.g.
xtrabackup) only adds a module here and a line in the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from shardkeeper.contracts.agent import AgentBackupRequest, BinlogPosition


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
    """What the backup says about itself (from the files inside the stream)."""

    binlog: BinlogPosition = field(default_factory=BinlogPosition)
    replica_source_binlog: BinlogPosition | None = None
    server_version: str | None = None
    engine_version: str | None = None


class Engine(Protocol):
    """A physical backup engine that writes one stream to stdout."""

    name: str
    """Engine name as used in requests (``mariabackup``)."""

    stream_files: frozenset[str]
    """Paths inside the stream whose content :meth:`facts` needs."""

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

    def facts(self, files: Mapping[str, bytes]) -> StreamFacts:
        """Consistent point and versions from the captured stream files."""
        ...
