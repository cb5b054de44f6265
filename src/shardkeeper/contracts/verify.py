"""``backups verify``: re-reading stored backups where they are, and the verdicts.

The bytes are re-read by an agent job the executor runs (``shardkeeper agent verify``),
never by the CLI or the worker. Each verdict is also written beside the backup as a side
record (``<shard>/_verify/<directory>.json``); metadata.json is never rewritten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from shardkeeper.contracts.base import Contract
from shardkeeper.contracts.common import Destination, ExecutorConfig


class VerifyTarget(Contract):
    """One backup directory to check (committed or not: a lost metadata.json is a finding)."""

    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    directory: str
    """The backup's directory under the shard (``<backup_id>_<tag>``, or the bare id)."""
    backup_id: str
    """The backup id (what comes before the first ``_`` of the directory)."""


class AgentVerifyRequest(Contract):
    """What ``shardkeeper agent verify`` checks: one backup directory."""

    cluster: str
    """Cluster name."""
    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    backup_id: str
    """Backup id."""
    directory: str
    """The backup's directory under the shard."""
    destination: Destination
    """Where it is stored (credentials by reference)."""


class VerifyCheck(Contract):
    """One check of a backup and its outcome."""

    name: Literal["metadata", "object", "size", "sha256"]
    """metadata: metadata.json exists and parses; object: the data object exists; size and
    sha256: the stored bytes match what metadata.json records."""
    ok: bool
    """Whether the check passed."""
    detail: str
    """What was found (the object's key, the sizes or digests compared)."""


class AgentVerifyReport(Contract):
    """The verdict on one backup (also the side record's content)."""

    kind: Literal["verify"] = "verify"
    """Side-record kind (cleanup records, drill results and verdicts share the format)."""
    time: datetime
    """When the check finished (UTC)."""
    cluster: str
    """Cluster name."""
    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    backup_id: str
    """Backup id."""
    directory: str
    """The backup's directory under the shard."""
    result: Literal["passed", "failed"]
    """passed: every check passed; failed: at least one did not (the backup is not
    restorable as it is)."""
    checks: tuple[VerifyCheck, ...]
    """Every check made, in order; checks after a failed ``metadata`` or ``object`` are not
    made."""
    bytes_read: int = 0
    """Stored bytes re-read."""

    def failed_checks(self) -> list[str]:
        """Names of the checks that failed."""
        return [c.name for c in self.checks if not c.ok]


class VerifyBackupsInput(Contract):
    """Input of the ``VerifyBackups`` workflow."""

    cluster: str
    """Cluster name."""
    destination: Destination
    """Where the backups are stored."""
    executor: ExecutorConfig = ExecutorConfig()
    """Which executor runs the verify jobs (they read the bytes, never the worker)."""
    keyspace: str | None = None
    """Only this keyspace."""
    shard: str | None = None
    """Only this shard (with ``keyspace``)."""
    backup: str | None = None
    """Only this backup id, or backup directory."""
    parallel: int = 2
    """Jobs at once."""


class ListVerifyTargetsInput(Contract):
    """Input of ``list_verify_targets``."""

    cluster: str
    """Cluster name."""
    destination: Destination
    """Where the backups are stored."""
    keyspace: str | None = None
    """Only this keyspace."""
    shard: str | None = None
    """Only this shard (with ``keyspace``; ignored without it)."""
    backup: str | None = None
    """Only this backup id or directory."""


class ListVerifyTargetsResult(Contract):
    """The backup directories found, committed or not."""

    targets: tuple[VerifyTarget, ...] = ()
    """Sorted by keyspace, shard, directory."""


class VerifyJobInput(Contract):
    """Input of ``verify_backup_job``: run one agent verify job and wait for its verdict."""

    request: AgentVerifyRequest
    """What the agent checks."""
    executor: ExecutorConfig
    """Which executor runs it."""
    job_name: str
    """Deterministic job name (a retry attaches to the same job)."""


class VerifyBackupsProgress(Contract):
    """Answer of the ``progress`` query of ``VerifyBackups``."""

    targets: int = 0
    """Backups to check."""
    done: int = 0
    """Backups checked."""
    failed: int = 0
    """Backups that failed a check."""


class VerifyBackupsResult(Contract):
    """Result of ``VerifyBackups``."""

    reports: tuple[AgentVerifyReport, ...] = ()
    """One verdict per backup checked."""

    @property
    def failed(self) -> list[AgentVerifyReport]:
        """The verdicts that failed."""
        return [r for r in self.reports if r.result == "failed"]
