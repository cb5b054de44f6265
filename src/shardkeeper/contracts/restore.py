"""The Restore saga on the wire: its input, messages, progress and result, and its activities.

Foreign clients (the Web UI, the ``temporal`` CLI, Node.js or Go SDKs) start a ``Restore``
workflow with one :class:`RestoreInput` JSON object, send ``approve`` / ``cancel`` as
signals (or ``approve_restore`` / ``cancel_restore`` as updates) and read
:class:`RestoreProgress` from the ``progress`` query. Field names are stable snake_case;
new fields are optional. Identifiers derived from a restore's name are built here, so the
workflow, the CLI and other languages compute the same ids.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Final, Literal

from shardkeeper import naming
from shardkeeper.contracts.base import Contract
from shardkeeper.contracts.common import (
    CredentialRef,
    DatabaseCredentials,
    Destination,
    ExecutorConfig,
    Instance,
    ShardTopology,
    Topology,
    TopologySource,
)

# Message names (signals, updates, queries) of the Restore and ShardRestore workflows. They
# live here, not in ``names``, because they are not activities.
SIGNAL_APPROVE: Final = "approve"
SIGNAL_CANCEL: Final = "cancel"
UPDATE_APPROVE: Final = "approve_restore"
UPDATE_CANCEL: Final = "cancel_restore"
QUERY_PROGRESS: Final = "progress"
QUERY_PHASE: Final = "phase"
SIGNAL_SHARD_PHASE: Final = "shard_phase"
"""Child → parent: a ShardRestore reached a phase (carries :class:`ShardPhaseReport`)."""
SIGNAL_DECIDE: Final = "decide"
"""Parent → child: commit or roll back a prepared shard (carries :class:`ShardDecision`)."""

LATEST: Final = "latest"


class RestorePhase(StrEnum):
    """Where a restore (or one of its shards) is.

    ``Recovering`` is reserved for point-in-time recovery (replaying archived binlogs between
    Restoring and ValidatingData); no restore enters it yet.
    """

    PENDING = "Pending"
    VALIDATING = "Validating"
    AWAITING_APPROVAL = "AwaitingApproval"
    FENCING = "Fencing"
    RESTORING = "Restoring"
    RECOVERING = "Recovering"
    VALIDATING_DATA = "ValidatingData"
    PREPARED = "Prepared"
    """Shard only: restored and checked, waiting for every other shard (all or nothing)."""
    UNFENCING = "Unfencing"
    COMPENSATING = "Compensating"
    COMPLETED = "Completed"
    FAILED = "Failed"
    COMPENSATED = "Compensated"


# Order in which phases advance; the parent shows the least advanced shard's phase.
PHASE_ORDER: Final = (
    RestorePhase.PENDING,
    RestorePhase.FENCING,
    RestorePhase.RESTORING,
    RestorePhase.RECOVERING,
    RestorePhase.VALIDATING_DATA,
    RestorePhase.PREPARED,
    RestorePhase.UNFENCING,
    RestorePhase.COMPLETED,
)


class RestoreSource(Contract):
    """Where the backups come from: the object store alone, no Temporal history needed.

    Backups live at ``<location.prefix>/<cluster>/<keyspace>/<shard>/<backup_id>/``; the
    cluster name is the key prefix, so a cluster whose schedules (or whole Temporal) are
    gone restores from the bucket alone.
    """

    location: Destination
    cluster: str | None = None
    """Cluster name the backups were stored under; None: the restore's ``cluster``."""
    backup_id: str = LATEST
    """A backup id (the same id for every shard, as one BackupRun writes them), or
    ``latest``: the newest id committed for every target shard (else each shard's newest)."""
    encryption_key: CredentialRef | None = None
    """Key of encrypted backups, by reference."""


class RestoreInput(Contract):
    """Input of the ``Restore`` workflow (also what ``kind: Restore`` and the CLI build)."""

    name: str
    """The restore's name (DNS-1123 label); the workflow id is derived from it."""
    cluster: str
    """The cluster the backups belong to (and, in place, the target)."""
    target: TopologySource
    """Where the target instances are described: the cluster's own Cluster document for an
    in-place restore, or another Cluster document (new instances, ``--into``)."""
    source: RestoreSource
    keyspace: str | None = None
    """Only this keyspace; None: the whole cluster."""
    shard: str | None = None
    """Only this shard of ``keyspace``."""
    require_approval: bool = False
    """Wait for ``approve`` after validation, before the first destructive step."""
    approval_timeout_seconds: int | None = None
    """Give up (changing nothing) when no approval came in time; None waits forever."""
    max_concurrent_shards: int = 4
    """Shards fencing and restoring at once; the others wait their turn."""
    executor: ExecutorConfig = ExecutorConfig()
    """Where the restore agent runs (the local executor on the target's host)."""
    validation: Literal["checksum", "count"] = "checksum"
    """``checksum``: CHECKSUM TABLE of every table; ``count``: row counts (faster)."""
    use_memory_bytes: int | None = None
    """``--use-memory`` of mariadb-backup ``--prepare``."""


class ApproveInput(Contract):
    """Payload of the ``approve`` signal / ``approve_restore`` update."""

    approved_by: str | None = None
    comment: str | None = None


class CancelInput(Contract):
    """Payload of the ``cancel`` signal / ``cancel_restore`` update."""

    requested_by: str | None = None
    reason: str | None = None


class BackupChoice(Contract):
    """The backup picked for one shard (one entry of the backup set)."""

    keyspace: str
    shard: str
    backup_id: str
    object_key: str
    sha256: str
    size_bytes: int
    engine: str = "mariabackup"
    gtid: str | None = None
    """GTID position of the backup's consistent point (what replicas resume from)."""
    finished_at: datetime | None = None


class ShardProgress(Contract):
    """One shard of a restore, as the parent knows it."""

    keyspace: str
    shard: str
    phase: RestorePhase = RestorePhase.PENDING
    backup_id: str | None = None
    workflow_id: str | None = None
    bytes_total: int | None = None
    bytes_done: int | None = None
    rate_bytes_per_second: float | None = None
    error: str | None = None


class RestoreProgress(Contract):
    """Answer of the ``progress`` query of ``Restore``."""

    name: str | None = None
    phase: RestorePhase = RestorePhase.PENDING
    approved: bool = False
    approved_by: str | None = None
    cancel_requested: bool = False
    backup_set: tuple[BackupChoice, ...] = ()
    backup_set_note: str | None = None
    """How the set was chosen (e.g. "newest id common to every shard")."""
    shards: tuple[ShardProgress, ...] = ()
    error: str | None = None
    needs_attention: tuple[str, ...] = ()
    """Targets a failed compensation could not return to their prior state."""


class CompensationOutcome(Contract):
    """One compensation that ran: which step it undid and whether it succeeded."""

    label: str
    activity: str
    ok: bool
    error: str | None = None


class InstanceRestoreReport(Contract):
    """What happened to one instance's data directory."""

    instance: str
    datadir: str | None = None
    set_aside_to: str | None = None
    digest_before: str | None = None
    """Tree digest of the datadir when it was set aside (instance stopped)."""
    digest_returned: str | None = None
    """Tree digest after a compensation put it back (equal to digest_before)."""


class ShardRestoreResult(Contract):
    """Result of one ``ShardRestore``."""

    keyspace: str
    shard: str
    backup_id: str
    phase: RestorePhase
    workflow_id: str | None = None
    bytes_restored: int = 0
    checksums: dict[str, int] = {}
    row_counts: dict[str, int] = {}
    instances: tuple[InstanceRestoreReport, ...] = ()
    compensations: tuple[CompensationOutcome, ...] = ()
    error: str | None = None


class RestoreResult(Contract):
    """Result of a ``Restore`` that completed."""

    name: str
    cluster: str
    phase: RestorePhase
    backup_set: tuple[BackupChoice, ...] = ()
    shards: tuple[ShardRestoreResult, ...] = ()
    started_at: datetime | None = None
    finished_at: datetime | None = None


# --- parent ↔ child ------------------------------------------------------------------------


class ShardRestoreInput(Contract):
    """Input of the ``ShardRestore`` child workflow: one shard, all its instances."""

    restore_name: str
    restore_key: str
    """Short stable key of the restore, used in set-aside directory and job names."""
    cluster: str
    shard: ShardTopology
    """The target instances of the shard."""
    credentials: DatabaseCredentials
    source: RestoreSource
    backup: BackupChoice
    executor: ExecutorConfig = ExecutorConfig()
    validation: Literal["checksum", "count"] = "checksum"
    use_memory_bytes: int | None = None
    wait_for_decision: bool = True
    """Hold a prepared shard until the parent says commit or roll back (all or nothing)."""


class ShardPhaseReport(Contract):
    """Child → parent signal payload."""

    keyspace: str
    shard: str
    phase: RestorePhase
    error: str | None = None
    bytes_total: int | None = None


class ShardDecision(Contract):
    """Parent → child: commit (unfence, discard set-aside data) or roll back."""

    commit: bool


# --- activities ------------------------------------------------------------------------------


class ResolveRestoreSetInput(Contract):
    """Input of ``resolve_restore_set``."""

    source: RestoreSource
    cluster: str
    shards: tuple[tuple[str, str], ...]
    """(keyspace, shard) of every target shard."""


class ResolveRestoreSetResult(Contract):
    """One backup per shard, and how they were chosen."""

    choices: tuple[BackupChoice, ...]
    note: str


class VerifyBackupInput(Contract):
    """Input of ``verify_backup``: re-read the stored object and compare with metadata.json."""

    source: RestoreSource
    choice: BackupChoice


class VerifyBackupResult(Contract):
    """Digest and size as re-read from the store."""

    sha256: str
    size_bytes: int


class TargetState(Contract):
    """How an instance was before a restore touched it (what unfencing returns it to)."""

    instance: Instance
    running: bool
    read_only: bool = False
    replicating: bool = False
    """Replication was started (SQL thread running, IO thread running or connecting)."""
    gtid_current_pos: str | None = None
    pid: int | None = None


class InstanceInput(Contract):
    """Input of activities acting on one instance."""

    instance: Instance
    credentials: DatabaseCredentials


class FenceInput(Contract):
    """Input of ``fence_target`` / ``unfence_target``."""

    state: TargetState
    credentials: DatabaseCredentials
    restored: bool = False
    """``unfence_target`` only. False (compensation): return the instance to ``state``
    (running or not, read_only, replication). True (commit): the restored instance keeps
    running and gets its previous read_only and replication back."""


class DatadirInput(Contract):
    """Input of ``set_aside_datadir``, ``return_datadir`` and ``discard_set_aside``."""

    instance: Instance
    restore_key: str
    job_name: str | None = None
    """``return_datadir``: the restore job writing into the datadir, stopped first."""
    executor: ExecutorConfig | None = None


class DatadirRecord(Contract):
    """What ``set_aside_datadir`` did (also written as a journal beside the datadir)."""

    datadir: str
    aside: str
    existed: bool
    digest: str | None = None
    files: int = 0


class ReturnDatadirResult(Contract):
    """Result of ``return_datadir``."""

    datadir: str
    returned: bool
    digest: str | None = None


class StageRestoreInput(Contract):
    """Input of ``stage_restore``: run the restore agent for one instance and wait for it."""

    job_name: str
    executor: ExecutorConfig
    cluster: str
    keyspace: str
    shard: str
    instance: Instance
    source: RestoreSource
    backup: BackupChoice
    restore_key: str
    use_memory_bytes: int | None = None
    labels: dict[str, str] = {}


class StageRestoreHeartbeat(Contract):
    """Heartbeat details of ``stage_restore`` (read by ``describe restore`` for bytes/rate)."""

    job_name: str
    phase: str
    bytes_done: int = 0
    bytes_total: int | None = None
    rate_bytes_per_second: float = 0.0


class StageRestoreResult(Contract):
    """What the agent reported."""

    datadir: str
    size_bytes: int
    raw_size_bytes: int
    sha256: str


class StartInstanceInput(Contract):
    """Input of ``start_instance``."""

    instance: Instance
    credentials: DatabaseCredentials
    read_only: bool = True
    """Start fenced: writable only after unfencing."""
    carry_from: str | None = None
    """A set-aside datadir to copy replication settings (master.info) from."""
    timeout_seconds: int = 300


class StartInstanceResult(Contract):
    """The started server."""

    pid: int | None = None
    already_running: bool = False


class ValidateRestoreInput(Contract):
    """Input of ``validate_restore``: check a restored shard's data and replication."""

    shard: ShardTopology
    credentials: DatabaseCredentials
    gtid: str | None = None
    mode: Literal["checksum", "count"] = "checksum"
    databases: tuple[str, ...] = ()
    """Databases to check; empty: every non-system database."""


class ValidateRestoreResult(Contract):
    """Per-table checksums (or row counts) of the primary; replicas matched them."""

    checksums: dict[str, int] = {}
    row_counts: dict[str, int] = {}
    replicas_attached: tuple[str, ...] = ()
    replicas_without_source: tuple[str, ...] = ()


class ResolvedTargets(Contract):
    """The target shards a restore selected from the target topology."""

    topology: Topology
    shards: tuple[ShardTopology, ...]


# --- identifiers -------------------------------------------------------------------------------


def restore_workflow_id(cluster: str, name: str) -> str:
    """Workflow id of a Restore: ``shardkeeper/<cluster>/restore/<name>``."""
    return f"{naming.SCHEDULE_PREFIX}/{cluster}/restore/{name}"


def shard_restore_workflow_id(cluster: str, name: str, keyspace: str, shard: str) -> str:
    """Workflow id of a ShardRestore child."""
    return f"{restore_workflow_id(cluster, name)}/{keyspace}/{shard}"


def restore_key(workflow_id: str, run_id: str) -> str:
    """A short key unique to one restore run (directory suffixes, job names)."""
    return "r" + hashlib.sha256(f"{workflow_id}\x00{run_id}".encode()).hexdigest()[:10]


def restore_job_name(cluster: str, keyspace: str, shard: str, instance: str, key: str) -> str:
    """Executor job name of one instance's restore (DNS-1123, deterministic per restore)."""
    return naming.dns_label("skr", cluster, keyspace, shard, instance, key)


def aside_path(datadir: str, key: str) -> str:
    """Where the current datadir is moved aside to (same filesystem: a rename)."""
    return f"{datadir.rstrip('/')}.sk-aside-{key}"


def journal_path(datadir: str, key: str) -> str:
    """The set-aside journal (JSON :class:`DatadirRecord`) beside the datadir."""
    return f"{aside_path(datadir, key)}.json"


def staging_path(datadir: str, key: str) -> str:
    """Where the agent stages (downloads, extracts, prepares) before moving into the datadir."""
    return f"{datadir.rstrip('/')}.sk-staging-{key}"
