"""Inputs and results of the backup workflows and their activities."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from shardkeeper.contracts.base import Contract
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
    scope: Scope = Scope.SHARD
    keyspace: str | None = None
    shard: str | None = None
    extra_flags: dict[str, str] = {}
    """Passed to the backup engine (validated by the spec: nothing that breaks streaming)."""


class Retention(Contract):
    """How many verified backups of a shard to keep."""

    keep_last: int | None = None
    retention_days: int = 7


class BackupPolicy(Contract):
    """Everything about how a shard is backed up, shared by all shards of a run."""

    destination: Destination
    engine: Engine = "mariabackup"
    databases: tuple[str, ...] = ()
    """Logical engine: the databases to dump (empty: all of them)."""
    compression: CompressionSpec | None = None
    """Streaming compression of the backup stream; None stores it as the engine wrote it."""
    encryption: EncryptionSpec | None = None
    """Client-side AES-256-GCM encryption, the key by reference; None stores it in clear."""
    target: Target = "prefer-replica"
    max_replica_lag_seconds: int = 300
    executor: ExecutorConfig = ExecutorConfig()
    retention: Retention = Retention()
    successful_jobs_history_limit: int = 3
    failed_jobs_history_limit: int = 1
    job_timeout_seconds: int | None = None
    """Measured from the real start of the backup; None disables."""
    concurrency_policy: ConcurrencyPolicy = "Forbid"
    """When this shard's previous backup of the same schedule still runs: skip this one
    (Forbid), run both (Allow), or cancel the previous one (Replace)."""
    max_concurrent_shards: int | None = None
    """Cluster-wide budget of shard backups running at once (across schedules)."""
    starting_deadline_seconds: int | None = None
    """Catch-up window: a run missed by more than this (worker or server down) is skipped."""
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
    schedule: str
    topology_source: TopologySource
    strategies: tuple[StrategyPlan, ...]
    policy: BackupPolicy
    excluded_keyspaces: tuple[str, ...] = ()
    """Keyspaces removed from Cluster-scope strategies (a Keyspace strategy owns them)."""
    stagger_window_seconds: int = 0
    backup_id: str | None = None
    """Override the backup id (normally derived from the scheduled time)."""


class ShardBackupInput(Contract):
    """Input of the ``ShardBackup`` workflow: one shard, one slot."""

    cluster: str
    schedule: str
    strategy: str
    backup_id: str
    shard: ShardTopology
    credentials: DatabaseCredentials
    policy: BackupPolicy
    offset_seconds: int = 0
    extra_flags: dict[str, str] = {}
    """The strategy's options for the backup engine (validated by the spec)."""


class ShardBackupResult(Contract):
    """What became of one shard's backup."""

    keyspace: str
    shard: str
    strategy: str
    backup_id: str
    outcome: Outcome
    reason: str | None = None
    source_instance: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    manifest_key: str | None = None
    workflow_id: str | None = None


class SkippedShard(Contract):
    """A shard the run did not start a backup for, and why."""

    keyspace: str
    shard: str
    strategy: str
    reason: str


class PlannedShard(Contract):
    """A child a run started: which shard, when, and its workflow id."""

    keyspace: str
    shard: str
    strategy: str
    offset_seconds: int
    workflow_id: str


class BackupRunProgress(Contract):
    """Answer of the BackupRun ``progress`` query."""

    backup_id: str | None = None
    planned: tuple[PlannedShard, ...] = ()
    skipped: tuple[SkippedShard, ...] = ()
    finished: int = 0


class BackupRunResult(Contract):
    """Result of a ``BackupRun``."""

    cluster: str
    schedule: str
    backup_id: str
    shards: tuple[ShardBackupResult, ...] = ()
    skipped: tuple[SkippedShard, ...] = ()


# --- activities ---------------------------------------------------------------------------


class ResolveShardsInput(Contract):
    """Input of ``resolve_shards``."""

    source: TopologySource


class ResolveShardsResult(Contract):
    """The topology as found now."""

    topology: Topology


class CheckShardReadinessInput(Contract):
    """Input of ``check_shard_readiness``."""

    shard: ShardTopology
    credentials: DatabaseCredentials
    max_replica_lag_seconds: int = 300
    require_backup_in: Destination | None = None
    """When set, the shard is ready only if a committed backup of it exists there
    (``allowFirstBackup: false``)."""
    cluster: str | None = None


class ReplicaHealth(Contract):
    """Replication state of one replica."""

    instance: str
    healthy: bool
    lag_seconds: int | None = None
    reason: str | None = None


class CheckShardReadinessResult(Contract):
    """Whether a shard can be backed up now."""

    ready: bool
    reason: str | None = None
    primary: str | None = None
    server_version: str | None = None
    replicas: tuple[ReplicaHealth, ...] = ()


class ChooseSourceInput(Contract):
    """Input of ``choose_source``."""

    shard: ShardTopology
    readiness: CheckShardReadinessResult
    target: Target = "prefer-replica"


class ChooseSourceResult(Contract):
    """The instance the backup is taken from."""

    instance: Instance
    reason: str


class LaunchBackupInput(Contract):
    """Input of ``launch_backup``: create the job if absent, else attach to it."""

    job_name: str
    executor: ExecutorConfig
    request: AgentBackupRequest
    labels: dict[str, str] = {}
    supersedes: tuple[str, ...] = ()
    """Earlier jobs of the same slot; stopped before this one starts so two never overlap."""


class LaunchBackupResult(Contract):
    """The job that runs (or ran) the agent."""

    job_name: str
    attached: bool
    """True when the job already existed (a retry or a restarted worker)."""


class AwaitBackupInput(Contract):
    """Input of ``await_backup``."""

    job_name: str
    executor: ExecutorConfig
    job_timeout_seconds: int | None = None


class AwaitBackupResult(Contract):
    """What the agent reported."""

    report: AgentBackupReport


class AwaitBackupHeartbeat(Contract):
    """Heartbeat details of ``await_backup``."""

    job_name: str
    state: str
    bytes_uploaded: int = 0
    rate_bytes_per_second: float = 0.0


class VerifyUploadInput(Contract):
    """Input of ``verify_upload``."""

    destination: Destination
    key: str
    expected_sha256: str
    expected_size_bytes: int


class VerifyUploadResult(Contract):
    """Digest and size of the stored object, re-read from the store."""

    sha256: str
    size_bytes: int


class WriteManifestInput(Contract):
    """Input of ``write_manifest``."""

    destination: Destination
    manifest: BackupManifest


class WriteManifestResult(Contract):
    """Where metadata.json was written."""

    key: str


class PruneJobsInput(Contract):
    """Input of ``prune_jobs``: keep the newest N succeeded and M failed jobs per shard."""

    executor: ExecutorConfig
    labels: dict[str, str]
    successful_jobs_history_limit: int
    failed_jobs_history_limit: int


class PruneJobsResult(Contract):
    """Jobs removed."""

    removed: tuple[str, ...] = ()


class PruneBackupsInput(Contract):
    """Input of ``prune_backups``."""

    destination: Destination
    cluster: str
    keyspace: str
    shard: str
    retention: Retention
    now: datetime
    """The workflow's time, so pruning is reproducible."""


class PruneBackupsResult(Contract):
    """Backups removed (ids) and garbage prefixes cleaned."""

    deleted: tuple[str, ...] = ()
    aborted_uploads: int = 0


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
