"""Inputs and results of the backup workflows and their activities.

Long because every field carries the attribute docstring that becomes its description in
``docs/reference/*.json`` for foreign clients; the code itself is plain models.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from shardkeeper.contracts.base import Contract
from shardkeeper.contracts.catalog import RemovedShardPruned
from shardkeeper.contracts.common import (
    DatabaseCredentials,
    Destination,
    ExecutorConfig,
    Instance,
    ShardTopology,
    Topology,
    TopologySource,
)

Engine = Literal["mariabackup", "logical"]
Target = Literal["prefer-replica", "primary"]
# source: the shard is ready when the instance the backup is read from is (the primary
# answers; any replica may lag or be down). all-tablets: the vitess rule, every replica
# must replicate within the lag bound too.
Readiness = Literal["source", "all-tablets"]
ConcurrencyPolicy = Literal["Forbid", "Allow", "Replace"]


class Scope(StrEnum):
    """What a strategy expands to."""

    SHARD = "Shard"
    KEYSPACE = "Keyspace"
    CLUSTER = "Cluster"


class Outcome(StrEnum):
    """How one shard's backup ended."""

    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    FAILED = "failed"


class StrategyPlan(Contract):
    """One strategy of a schedule, as the run workflow expands it."""

    name: str
    """Strategy name, unique in its schedule (part of job names and workflow ids)."""
    scope: Scope = Scope.SHARD
    """What the strategy expands to: one shard, one keyspace's shards, or every shard."""
    keyspace: str | None = None
    """Keyspace of a Shard or Keyspace scope; None for Cluster."""
    shard: str | None = None
    """Shard of a Shard scope; None otherwise."""
    extra_flags: dict[str, str] = {}
    """Passed to the backup engine (validated by the spec: nothing that breaks streaming)."""


class Retention(Contract):
    """How many verified backups of a shard to keep."""

    keep_last: int | None = None
    """Always keep this many newest committed backups, whatever their age; None: no count rule."""
    retention_days: int = 7
    """Keep committed backups that finished less than this many days ago (the newest is always
    kept)."""


class BackupPolicy(Contract):
    """Everything about how a shard is backed up, shared by all shards of a run."""

    destination: Destination
    """Where the backups are stored."""
    engine: Engine = "mariabackup"
    """``mariabackup`` (physical) or ``logical`` (mariadb-dump)."""
    databases: tuple[str, ...] = ()
    """Logical engine: the databases to dump (empty: all of them)."""
    compression: CompressionSpec | None = None
    """Streaming compression of the backup stream; None stores it as the engine wrote it."""
    encryption: EncryptionSpec | None = None
    """Client-side AES-256-GCM encryption, the key by reference; None stores it in clear."""
    target: Target = "prefer-replica"
    """``prefer-replica``: the least-lagged healthy replica, else the primary; ``primary``: always
    the primary."""
    max_replica_lag_seconds: int = 300
    """A replica further behind than this many seconds (or not replicating) is passed over."""
    readiness: Readiness = "source"
    """source: back up from any healthy replica within the lag bound, else the primary;
    all-tablets: skip the shard unless every replica is healthy (the vitess rule)."""
    executor: ExecutorConfig = ExecutorConfig()
    """Which executor runs the backup agent, and its settings."""
    retention: Retention = Retention()
    """How many committed backups of each shard are kept."""
    successful_jobs_history_limit: int = 3
    """Finished succeeded agent jobs kept per shard (older ones are removed)."""
    failed_jobs_history_limit: int = 1
    """Finished failed agent jobs kept per shard, for inspection."""
    job_timeout_seconds: int | None = None
    """Measured from the real start of the backup; None disables."""
    concurrency_policy: ConcurrencyPolicy = "Forbid"
    """When this shard's previous backup of the same schedule still runs: skip this one
    (Forbid), run both (Allow), or cancel the previous one (Replace)."""
    max_concurrent_shards: int | None = None
    """Cluster-wide budget of shard backups running at once (across schedules)."""
    starting_deadline_seconds: int | None = None
    """Catch-up window of the Temporal Schedule (server down), and enforced by ShardBackup too
    (worker down): a shard that would start more than this after its slot plus its offset is
    skipped with the reason ``missed``."""
    allow_first_backup: bool = True
    """Physical engines: False skips a shard that has no committed backup yet."""
    resources: dict[str, dict[str, str]] = {}
    """Kubernetes executor: ``{"requests": {"cpu": "500m"}, "limits": {...}}``."""
    affinity: dict[str, Any] | None = None
    """Kubernetes executor: a Kubernetes ``Affinity`` in its API (camelCase) form."""
    tolerations: tuple[dict[str, Any], ...] = ()
    """Kubernetes executor: Kubernetes ``Toleration`` objects in API (camelCase) form."""
    node_selector: dict[str, str] = {}
    """Kubernetes executor: node labels the job's pod must match."""
    annotations: dict[str, str] = {}
    """Kubernetes executor: annotations of the job and its pod."""


class BackupRunInput(Contract):
    """Input of the ``BackupRun`` workflow: one scheduled (or manual) run of a schedule."""

    cluster: str
    """Cluster name."""
    schedule: str
    """Schedule name (``manual`` for a run started by hand without one)."""
    topology_source: TopologySource
    """Where the run reads the cluster's topology when it starts."""
    strategies: tuple[StrategyPlan, ...]
    """The schedule's strategies; each expands to the shards it covers."""
    policy: BackupPolicy
    """How every shard of the run is backed up."""
    excluded_keyspaces: tuple[str, ...] = ()
    """Keyspaces removed from Cluster-scope strategies (a Keyspace strategy owns them), as
    ``apply`` computed them from the files it was given. Used only by runs that do not decide
    ownership at run time (see ``keyspace_owners_at_run_time``)."""
    keyspace_owners_at_run_time: bool | None = None
    """True: when the run starts, Cluster-scope strategies leave out the keyspaces that
    Keyspace-scope strategies of the cluster's schedules own at that moment (paused schedules
    own nothing), and ``excluded_keyspaces`` is ignored. False: ``excluded_keyspaces`` only.
    None (inputs written before this field): True for a run a Temporal Schedule started,
    False for one started by hand."""
    stagger_window_seconds: int = 0
    """Shard start times are spread over this many seconds; 0 starts every shard at once."""
    backup_id: str | None = None
    """Override the backup id (normally derived from the scheduled time)."""
    first_backup: Literal["immediate", "next-slot"] = "next-slot"
    """The schedule's ``firstBackup``: whether applying it (or its cluster) starts a first
    run at once; inputs written before the field: next-slot."""
    only_shards_without_backup: bool = False
    """True for the run ``firstBackup: immediate`` starts: a shard that already has a
    committed backup of this schedule and strategy is skipped (decided when the run starts),
    the others are backed up now. False for every scheduled or manual run."""


class ShardBackupInput(Contract):
    """Input of the ``ShardBackup`` workflow: one shard, one slot."""

    cluster: str
    """Cluster name."""
    schedule: str
    """Schedule name."""
    strategy: str
    """Name of the strategy that covers this shard."""
    backup_id: str
    """Backup id shared by every shard of the run (the scheduled time, UTC)."""
    shard: ShardTopology
    """The shard and its instances, as resolved at the start of the run."""
    credentials: DatabaseCredentials
    """Database account used for readiness checks and the engine."""
    policy: BackupPolicy
    """How the shard is backed up."""
    offset_seconds: int = 0
    """Seconds after the run's start at which this shard starts (its stagger slot)."""
    extra_flags: dict[str, str] = {}
    """The strategy's options for the backup engine (validated by the spec)."""
    slot_time: datetime | None = None
    """The run's nominal time (``TemporalScheduledStartTime``); None for a run started by
    hand. With ``policy.starting_deadline_seconds`` it bounds when the shard may start."""
    run_started_at: datetime | None = None
    """When Temporal started the run; a backfill or catch-up starts after its slot and is due
    from then (the deadline counts from the later of the two)."""


class ShardBackupResult(Contract):
    """What became of one shard's backup."""

    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    strategy: str
    """Name of the strategy that covered the shard."""
    backup_id: str
    """Backup id of the run."""
    outcome: Outcome
    """``succeeded``, ``skipped`` or ``failed``."""
    reason: str | None = None
    """Why the shard was skipped or failed; None when it succeeded."""
    source_instance: str | None = None
    """Name of the instance the backup was read from."""
    source_reason: str | None = None
    """Why ``source_instance`` was chosen (and which replicas were passed over, and why)."""
    size_bytes: int | None = None
    """Stored bytes of the backup object (after compression and encryption)."""
    sha256: str | None = None
    """Hex SHA-256 of the stored object, verified by re-reading it."""
    started_at: datetime | None = None
    """When the agent started streaming (UTC)."""
    finished_at: datetime | None = None
    """When the agent finished streaming (UTC)."""
    manifest_key: str | None = None
    """Object key of the backup's metadata.json; None unless it succeeded."""
    workflow_id: str | None = None
    """Workflow id of the ShardBackup run."""


class SkippedShard(Contract):
    """A shard the run did not start a backup for, and why."""

    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    strategy: str
    """Name of the strategy that would have covered the shard."""
    reason: str
    """Why no backup was started (e.g. an excluded keyspace, a missing shard)."""


class PlannedShard(Contract):
    """A child a run started: which shard, when, and its workflow id."""

    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    strategy: str
    """Name of the strategy that covers the shard."""
    offset_seconds: int
    """Seconds after the run's start at which the child starts."""
    workflow_id: str
    """Workflow id of the ShardBackup child."""


class BackupRunProgress(Contract):
    """Answer of the BackupRun ``progress`` query."""

    backup_id: str | None = None
    """Backup id of the run; None before the run derived it."""
    planned: tuple[PlannedShard, ...] = ()
    """The children started (or about to start), with their offsets."""
    skipped: tuple[SkippedShard, ...] = ()
    """Shards no child was started for, and why."""
    finished: int = 0
    """How many children have finished, whatever their outcome."""


class BackupRunResult(Contract):
    """Result of a ``BackupRun``."""

    cluster: str
    """Cluster name."""
    schedule: str
    """Schedule name."""
    backup_id: str
    """Backup id shared by every shard of the run."""
    shards: tuple[ShardBackupResult, ...] = ()
    """Result of every child, in the order they were planned."""
    skipped: tuple[SkippedShard, ...] = ()
    """Shards no child was started for, and why."""
    removed_shards_pruned: tuple[RemovedShardPruned, ...] = ()
    """What retention did on shards gone from the topology (scheduled runs only)."""


# --- activities ---------------------------------------------------------------------------


class ResolveShardsInput(Contract):
    """Input of ``resolve_shards``."""

    source: TopologySource
    """Where the topology is read."""


class ResolveShardsResult(Contract):
    """The topology as found now."""

    topology: Topology
    """The cluster's shards and instances."""


class CheckShardReadinessInput(Contract):
    """Input of ``check_shard_readiness``."""

    shard: ShardTopology
    """The shard to check."""
    credentials: DatabaseCredentials
    """Database account used to query the instances."""
    max_replica_lag_seconds: int = 300
    """A replica further behind than this many seconds is unhealthy."""
    readiness: Readiness = "source"
    """all-tablets: not ready while any replica is unhealthy; source: replicas only inform
    the choice of source (see :data:`Readiness`)."""
    require_backup_in: Destination | None = None
    """When set, the shard is ready only if a committed backup of it exists there
    (``allowFirstBackup: false``)."""
    cluster: str | None = None
    """Cluster name; needed with ``require_backup_in`` to find the shard's backups."""


class ReplicaHealth(Contract):
    """Replication state of one replica."""

    instance: str
    """Instance name."""
    healthy: bool
    """Replicating (both threads running) and within the lag bound."""
    lag_seconds: int | None = None
    """``Seconds_Behind_Master``; None when unknown (stopped or unreachable)."""
    reason: str | None = None
    """Why the replica is unhealthy; None when healthy."""


class CheckShardReadinessResult(Contract):
    """Whether a shard can be backed up now."""

    ready: bool
    """True when a backup can start now."""
    reason: str | None = None
    """Why the shard is not ready; None when it is."""
    primary: str | None = None
    """Name of the instance that answered as primary."""
    server_version: str | None = None
    """The primary's ``@@version``."""
    replicas: tuple[ReplicaHealth, ...] = ()
    """Replication state of every replica."""


class ChooseSourceInput(Contract):
    """Input of ``choose_source``."""

    shard: ShardTopology
    """The shard and its instances."""
    readiness: CheckShardReadinessResult
    """The readiness check's answer (replica health and lag)."""
    target: Target = "prefer-replica"
    """``prefer-replica`` or ``primary``."""


class ChooseSourceResult(Contract):
    """The instance the backup is taken from."""

    instance: Instance
    """The instance to back up."""
    reason: str
    """Why it was chosen (and which replicas were passed over)."""


class LaunchBackupInput(Contract):
    """Input of ``launch_backup``: create the job if absent, else attach to it."""

    job_name: str
    """Executor job name (DNS-1123, deterministic per slot and attempt)."""
    executor: ExecutorConfig
    """Which executor runs the agent."""
    request: AgentBackupRequest
    """What the agent backs up, and where to."""
    labels: dict[str, str] = {}
    """Labels of the job (cluster, schedule, keyspace, shard ...), used to find and prune it."""
    supersedes: tuple[str, ...] = ()
    """Earlier jobs of the same slot; stopped before this one starts so two never overlap."""


class LaunchBackupResult(Contract):
    """The job that runs (or ran) the agent."""

    job_name: str
    """Name of the job."""
    attached: bool
    """True when the job already existed (a retry or a restarted worker)."""


class AwaitBackupInput(Contract):
    """Input of ``await_backup``."""

    job_name: str
    """The job to wait for."""
    executor: ExecutorConfig
    """The executor that runs it."""
    job_timeout_seconds: int | None = None
    """Stop the job after this many seconds from its start; None: no limit."""


class AwaitBackupResult(Contract):
    """What the agent reported."""

    report: AgentBackupReport
    """The agent's report of the complete object."""


class AwaitBackupHeartbeat(Contract):
    """Heartbeat details of ``await_backup``."""

    job_name: str
    """The job waited for."""
    state: str
    """The agent's last phase (``running`` before its first progress line)."""
    bytes_uploaded: int = 0
    """Stored bytes uploaded so far."""
    rate_bytes_per_second: float = 0.0
    """Current upload rate."""


class VerifyUploadInput(Contract):
    """Input of ``verify_upload``."""

    destination: Destination
    """Where the object is stored."""
    key: str
    """Object key of the backup stream."""
    expected_sha256: str
    """Hex SHA-256 the agent reported."""
    expected_size_bytes: int
    """Size in bytes the agent reported."""


class VerifyUploadResult(Contract):
    """Digest and size of the stored object, re-read from the store."""

    sha256: str
    """Hex SHA-256 of the bytes re-read from the store."""
    size_bytes: int
    """Size in bytes of the stored object."""


class WriteManifestInput(Contract):
    """Input of ``write_manifest``."""

    destination: Destination
    """Where the backup is stored."""
    manifest: BackupManifest
    """The commit record to write."""


class WriteManifestResult(Contract):
    """Where metadata.json was written."""

    key: str
    """Object key of the metadata.json written."""


class PruneJobsInput(Contract):
    """Input of ``prune_jobs``: keep the newest N succeeded and M failed jobs per shard."""

    executor: ExecutorConfig
    """The executor whose jobs are pruned."""
    labels: dict[str, str]
    """Labels selecting the jobs of one shard and schedule."""
    successful_jobs_history_limit: int
    """Succeeded jobs to keep, newest first."""
    failed_jobs_history_limit: int
    """Failed jobs to keep, newest first."""


class PruneJobsResult(Contract):
    """Jobs removed."""

    removed: tuple[str, ...] = ()
    """Names of the jobs removed."""


class PruneBackupsInput(Contract):
    """Input of ``prune_backups``."""

    destination: Destination
    """Where the shard's backups are stored."""
    cluster: str
    """Cluster name."""
    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    retention: Retention
    """Which committed backups to keep."""
    now: datetime
    """The workflow's time, so pruning is reproducible."""
    schedule: str | None = None
    """Schedule whose own backups are pruned (by the manifest's ``schedule``); None: only
    backups taken outside a schedule, as recorded runs before per-schedule retention send."""
    strategy: str | None = None
    """Strategy whose own backups are pruned, with ``schedule``."""
    job_timeout_seconds: int | None = None
    """The schedule's job timeout: how long its own open uploads may still be running."""


class PruneBackupsResult(Contract):
    """Backups removed (ids) and garbage prefixes cleaned."""

    deleted: tuple[str, ...] = ()
    """Ids of the backups (committed or garbage) removed, sorted."""
    aborted_uploads: int = 0
    """Stale multipart uploads aborted."""


from shardkeeper.contracts.agent import (  # noqa: E402
    AgentBackupReport,
    AgentBackupRequest,
    CompressionSpec,
    EncryptionSpec,
)
from shardkeeper.contracts.manifest import BackupManifest  # noqa: E402

BackupPolicy.model_rebuild()
BackupRunInput.model_rebuild()
ShardBackupInput.model_rebuild()
LaunchBackupInput.model_rebuild()
AwaitBackupResult.model_rebuild()
WriteManifestInput.model_rebuild()
