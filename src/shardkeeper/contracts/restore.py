"""The Restore saga on the wire: its input, messages, progress and result, and its activities.

Foreign clients (the Web UI, the ``temporal`` CLI, Node.js or Go SDKs) start a ``Restore``
workflow with one :class:`RestoreInput` JSON object, send ``approve`` / ``cancel`` as
signals (or ``approve_restore`` / ``cancel_restore`` as updates) and read
:class:`RestoreProgress` from the ``progress`` query. Field names are stable snake_case;
new fields are optional. Identifiers derived from a restore's name are built in
``shardkeeper.naming``, so the workflow, the CLI and other languages compute the same ids.

Long because every field carries the attribute docstring that becomes its description in
``docs/reference/*.json``; the code itself is plain models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

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

# RestorePhase and PHASE_ORDER live in restore_phase.py; re-exported for the many importers.
from shardkeeper.contracts.restore_phase import PHASE_ORDER as PHASE_ORDER
from shardkeeper.contracts.restore_phase import RestorePhase as RestorePhase

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


class RestoreSource(Contract):
    """Where the backups come from: the object store alone, no Temporal history needed.

    Backups live at ``<location.prefix>/<cluster>/<keyspace>/<shard>/<backup_id>_<tag>/``
    (``<backup_id>/`` before per-schedule keys); the cluster name is the key prefix, so a
    cluster whose schedules (or whole Temporal) are gone restores from the bucket alone.
    """

    location: Destination
    """The bucket (or filesystem path) and prefix the backups are stored in."""
    cluster: str | None = None
    """Cluster name the backups were stored under; None: the restore's ``cluster``."""
    backup_id: str = LATEST
    """A backup id (the same id for every shard, as one BackupRun writes them), or
    ``latest``: the newest id committed for every target shard (else each shard's newest)."""
    encryption_key: CredentialRef | None = None
    """Key of encrypted backups, by reference."""
    strategy: str | None = None
    """Only backups this strategy wrote; None: any. Needed when several strategies took a
    backup of a shard with the same id (e.g. a cluster-wide and a one-shard strategy)."""
    schedule: str | None = None
    """When several schedules took a backup of a shard with the same id, this schedule's;
    None: such a tie is refused, naming the candidates."""


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
    """Where the backups come from, and which backup id."""
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
    """Who approved (shown in progress and history); None: anonymous."""
    comment: str | None = None
    """Free text recorded with the approval."""


class CancelInput(Contract):
    """Payload of the ``cancel`` signal / ``cancel_restore`` update."""

    requested_by: str | None = None
    """Who asked to cancel; None: anonymous."""
    reason: str | None = None
    """Why, as free text."""


class BackupChoice(Contract):
    """The backup picked for one shard (one entry of the backup set)."""

    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    backup_id: str
    """The backup id picked for the shard."""
    object_key: str
    """Object key of its stream (from metadata.json)."""
    sha256: str
    """Hex SHA-256 of the stored object, from metadata.json."""
    size_bytes: int
    """Stored bytes of the object."""
    engine: str = "mariabackup"
    """Engine that took the backup (``mariabackup`` or ``logical``)."""
    gtid: str | None = None
    """GTID position of the backup's consistent point (what replicas resume from)."""
    finished_at: datetime | None = None
    """When the backup finished (UTC); None when the manifest lacks it."""
    schedule: str | None = None
    """Schedule that took it (with ``strategy``, which backup of the id the agent opens)."""
    strategy: str | None = None
    """Strategy that covered the shard."""


class ShardProgress(Contract):
    """One shard of a restore, as the parent knows it."""

    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    phase: RestorePhase = RestorePhase.PENDING
    """The shard's phase, as last reported by its ShardRestore."""
    backup_id: str | None = None
    """The backup restored into the shard; None before the set is chosen."""
    workflow_id: str | None = None
    """Workflow id of the shard's ShardRestore child; None before it starts."""
    bytes_total: int | None = None
    """Stored bytes of the shard's backup; None when unknown."""
    bytes_done: int | None = None
    """Stored bytes restored so far."""
    rate_bytes_per_second: float | None = None
    """Current restore rate."""
    error: str | None = None
    """Why the shard failed; None otherwise."""


class RestoreProgress(Contract):
    """Answer of the ``progress`` query of ``Restore``."""

    name: str | None = None
    """The restore's name."""
    phase: RestorePhase = RestorePhase.PENDING
    """The restore's phase (while shards restore: the least advanced shard's)."""
    approved: bool = False
    """True once an approval arrived."""
    approved_by: str | None = None
    """Who approved."""
    cancel_requested: bool = False
    """True once a cancel arrived."""
    backup_set: tuple[BackupChoice, ...] = ()
    """One backup per target shard, once chosen."""
    backup_set_note: str | None = None
    """How the set was chosen (e.g. "newest id common to every shard")."""
    shards: tuple[ShardProgress, ...] = ()
    """Progress of every target shard."""
    error: str | None = None
    """Why the restore failed or was compensated; None otherwise."""
    needs_attention: tuple[str, ...] = ()
    """Targets a failed compensation could not return to their prior state."""


class CompensationOutcome(Contract):
    """One compensation that ran: which step it undid and whether it succeeded."""

    label: str
    """The step undone, for people (e.g. ``unfence mariadb-1``)."""
    activity: str
    """Name of the compensating activity."""
    ok: bool
    """True when the compensation succeeded."""
    error: str | None = None
    """Why it failed; None when it succeeded."""


class InstanceRestoreReport(Contract):
    """What happened to one instance's data directory."""

    instance: str
    """Instance name."""
    datadir: str | None = None
    """The instance's data directory; None for a logical restore."""
    set_aside_to: str | None = None
    """Where the previous datadir was moved aside to; None when none was."""
    digest_before: str | None = None
    """Tree digest of the datadir when it was set aside (instance stopped)."""
    digest_returned: str | None = None
    """Tree digest after a compensation put it back (equal to digest_before)."""


class ShardRestoreResult(Contract):
    """Result of one ``ShardRestore``."""

    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    backup_id: str
    """The backup restored."""
    phase: RestorePhase
    """How the shard ended: ``Completed``, ``Compensated`` or ``Failed``."""
    workflow_id: str | None = None
    """Workflow id of the ShardRestore."""
    bytes_restored: int = 0
    """Stored bytes restored, over all instances."""
    checksums: dict[str, int] = {}
    """``db.table`` → CHECKSUM TABLE value (validation ``checksum``)."""
    row_counts: dict[str, int] = {}
    """``db.table`` → row count (validation ``count``)."""
    instances: tuple[InstanceRestoreReport, ...] = ()
    """What happened to every instance's data directory."""
    compensations: tuple[CompensationOutcome, ...] = ()
    """Compensations that ran, newest step first."""
    error: str | None = None
    """Why the shard failed or was compensated; None otherwise."""


class RestoreResult(Contract):
    """Result of a ``Restore`` that completed."""

    name: str
    """The restore's name."""
    cluster: str
    """Cluster name."""
    phase: RestorePhase
    """How the restore ended: ``Completed`` or ``Compensated``."""
    backup_set: tuple[BackupChoice, ...] = ()
    """One backup per target shard."""
    shards: tuple[ShardRestoreResult, ...] = ()
    """Result of every target shard."""
    started_at: datetime | None = None
    """When the workflow started (UTC)."""
    finished_at: datetime | None = None
    """When it finished (UTC)."""


# --- parent ↔ child ------------------------------------------------------------------------


class ShardRestoreInput(Contract):
    """Input of the ``ShardRestore`` child workflow: one shard, all its instances."""

    restore_name: str
    """Name of the parent restore."""
    restore_key: str
    """Short stable key of the restore, used in set-aside directory and job names."""
    cluster: str
    """Cluster name."""
    shard: ShardTopology
    """The target instances of the shard."""
    credentials: DatabaseCredentials
    """Database account of the target instances."""
    source: RestoreSource
    """Where the backups come from."""
    backup: BackupChoice
    """The backup restored into this shard."""
    executor: ExecutorConfig = ExecutorConfig()
    """Where the restore agent runs."""
    validation: Literal["checksum", "count"] = "checksum"
    """``checksum`` or ``count`` (see :class:`RestoreInput`)."""
    use_memory_bytes: int | None = None
    """``--use-memory`` of the prepare step; None: the engine default."""
    wait_for_decision: bool = True
    """Hold a prepared shard until the parent says commit or roll back (all or nothing)."""


class ShardPhaseReport(Contract):
    """Child → parent signal payload."""

    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    phase: RestorePhase
    """The phase the shard reached."""
    error: str | None = None
    """Why the shard failed; None otherwise."""
    bytes_total: int | None = None
    """Stored bytes of the shard's backup, when known."""


class ShardDecision(Contract):
    """Parent → child: commit (unfence, discard set-aside data) or roll back."""

    commit: bool
    """True: commit (unfence, discard the set-aside data); False: roll back."""


# --- activities ------------------------------------------------------------------------------


class ResolveRestoreSetInput(Contract):
    """Input of ``resolve_restore_set``."""

    source: RestoreSource
    """Where the backups are stored, and which id is asked for."""
    cluster: str
    """Cluster name of the restore (the backups' when ``source.cluster`` is None)."""
    shards: tuple[tuple[str, str], ...]
    """(keyspace, shard) of every target shard."""


class ResolveRestoreSetResult(Contract):
    """One backup per shard, and how they were chosen."""

    choices: tuple[BackupChoice, ...]
    """One backup per requested shard."""
    note: str
    """How the set was chosen, for people."""


class VerifyBackupInput(Contract):
    """Input of ``verify_backup``: re-read the stored object and compare with metadata.json."""

    source: RestoreSource
    """Where the backup is stored."""
    choice: BackupChoice
    """The backup to verify."""


class VerifyBackupResult(Contract):
    """Digest and size as re-read from the store."""

    sha256: str
    """Hex SHA-256 of the bytes re-read from the store."""
    size_bytes: int
    """Size in bytes of the stored object."""


class TargetState(Contract):
    """How an instance was before a restore touched it (what unfencing returns it to)."""

    instance: Instance
    """The instance."""
    running: bool
    """mariadbd was running."""
    read_only: bool = False
    """``@@read_only`` was on."""
    replicating: bool = False
    """Replication was started (SQL thread running, IO thread running or connecting)."""
    gtid_current_pos: str | None = None
    """``@@gtid_current_pos``; None when not running."""
    pid: int | None = None
    """Process id of mariadbd; None when not running or unknown."""


class InstanceInput(Contract):
    """Input of activities acting on one instance."""

    instance: Instance
    """The instance acted on."""
    credentials: DatabaseCredentials
    """Database account used with it."""


class FenceInput(Contract):
    """Input of ``fence_target`` / ``unfence_target``."""

    state: TargetState
    """The instance's state before fencing (what compensation returns it to)."""
    credentials: DatabaseCredentials
    """Database account used with the instance."""
    restored: bool = False
    """``unfence_target`` only. False (compensation): return the instance to ``state``
    (running or not, read_only, replication). True (commit): the restored instance keeps
    running and gets its previous read_only and replication back."""


class DatadirInput(Contract):
    """Input of ``set_aside_datadir``, ``return_datadir`` and ``discard_set_aside``."""

    instance: Instance
    """The instance whose data directory is acted on."""
    restore_key: str
    """Key of the restore run (names the set-aside directory and journal)."""
    job_name: str | None = None
    """``return_datadir``: the restore job writing into the datadir, stopped first."""
    executor: ExecutorConfig | None = None
    """``return_datadir``: the executor running ``job_name``."""


class DatadirRecord(Contract):
    """What ``set_aside_datadir`` did (also written as a journal beside the datadir)."""

    datadir: str
    """The data directory."""
    aside: str
    """Where it was moved to."""
    existed: bool
    """False when there was no datadir to set aside."""
    digest: str | None = None
    """Tree digest of the datadir before the move; None when it did not exist."""
    files: int = 0
    """Number of files digested."""


class ReturnDatadirResult(Contract):
    """Result of ``return_datadir``."""

    datadir: str
    """The data directory."""
    returned: bool
    """True when the set-aside directory was moved back."""
    digest: str | None = None
    """Tree digest after the return (equal to the recorded one)."""


class StageRestoreInput(Contract):
    """Input of ``stage_restore``: run the restore agent for one instance and wait for it."""

    job_name: str
    """Executor job name of this instance's restore."""
    executor: ExecutorConfig
    """Where the restore agent runs."""
    cluster: str
    """Cluster name."""
    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    instance: Instance
    """The instance restored into."""
    source: RestoreSource
    """Where the backup is stored."""
    backup: BackupChoice
    """The backup restored."""
    restore_key: str
    """Key of the restore run (names the staging directory)."""
    use_memory_bytes: int | None = None
    """``--use-memory`` of the prepare step; None: the engine default."""
    labels: dict[str, str] = {}
    """Labels of the job."""


class StageRestoreHeartbeat(Contract):
    """Heartbeat details of ``stage_restore`` (read by ``describe restore`` for bytes/rate)."""

    job_name: str
    """The job waited for."""
    phase: str
    """The agent's last phase."""
    bytes_done: int = 0
    """Stored bytes processed so far."""
    bytes_total: int | None = None
    """Stored bytes of the backup, when known."""
    rate_bytes_per_second: float = 0.0
    """Current rate of ``bytes_done``."""


class StageRestoreResult(Contract):
    """What the agent reported."""

    datadir: str
    """The data directory restored into."""
    size_bytes: int
    """Stored bytes downloaded."""
    raw_size_bytes: int
    """Bytes after decryption and decompression."""
    sha256: str
    """Hex SHA-256 of the downloaded bytes."""


class StartInstanceInput(Contract):
    """Input of ``start_instance``."""

    instance: Instance
    """The instance to start."""
    credentials: DatabaseCredentials
    """Database account used to wait until it answers."""
    read_only: bool = True
    """Start fenced: writable only after unfencing."""
    carry_from: str | None = None
    """A set-aside datadir to copy replication settings (master.info) from."""
    timeout_seconds: int = 300
    """Give up when it does not answer within this many seconds."""


class StartInstanceResult(Contract):
    """The started server."""

    pid: int | None = None
    """Process id of the started mariadbd, when known."""
    already_running: bool = False
    """True when it was running already (e.g. a retried activity)."""


class ValidateRestoreInput(Contract):
    """Input of ``validate_restore``: check a restored shard's data and replication."""

    shard: ShardTopology
    """The restored shard."""
    credentials: DatabaseCredentials
    """Database account of its instances."""
    gtid: str | None = None
    """GTID of the backup's consistent point, where replicas resume; None: not attached."""
    mode: Literal["checksum", "count"] = "checksum"
    """``checksum`` (CHECKSUM TABLE) or ``count`` (row counts)."""
    databases: tuple[str, ...] = ()
    """Databases to check; empty: every non-system database."""


class ValidateRestoreResult(Contract):
    """Per-table checksums (or row counts) of the primary; replicas matched them."""

    checksums: dict[str, int] = {}
    """``db.table`` → CHECKSUM TABLE value of the primary (mode ``checksum``)."""
    row_counts: dict[str, int] = {}
    """``db.table`` → row count of the primary (mode ``count``)."""
    replicas_attached: tuple[str, ...] = ()
    """Replicas set to replicate from the restored primary."""
    replicas_without_source: tuple[str, ...] = ()
    """Replicas left unattached (no GTID to resume from)."""


class ResolvedTargets(Contract):
    """The target shards a restore selected from the target topology."""

    topology: Topology
    """The whole target topology."""
    shards: tuple[ShardTopology, ...]
    """The shards selected (by keyspace and shard, or all)."""
