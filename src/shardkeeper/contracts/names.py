"""Stable names: workflow types, activity names, search attributes, task queue.

These strings are the cross-language API (the Web UI, the ``temporal`` CLI and other SDKs
address workflows and activities by them). Renaming one breaks foreign clients.
"""

from __future__ import annotations

from typing import Final

DEFAULT_TASK_QUEUE: Final = "shardkeeper"
DEFAULT_NAMESPACE: Final = "default"

# Workflow types
BACKUP_RUN: Final = "BackupRun"
SHARD_BACKUP: Final = "ShardBackup"
CLUSTER_BUDGET: Final = "ClusterBudget"
RESTORE: Final = "Restore"
SHARD_RESTORE: Final = "ShardRestore"
VERIFY_BACKUPS: Final = "VerifyBackups"

# Activities
RESOLVE_SHARDS: Final = "resolve_shards"
CHECK_SHARD_READINESS: Final = "check_shard_readiness"
CHOOSE_SOURCE: Final = "choose_source"
LAUNCH_BACKUP: Final = "launch_backup"
AWAIT_BACKUP: Final = "await_backup"
VERIFY_UPLOAD: Final = "verify_upload"
WRITE_MANIFEST: Final = "write_manifest"
PRUNE_JOBS: Final = "prune_jobs"
PRUNE_BACKUPS: Final = "prune_backups"
FIND_RUNNING_BACKUPS: Final = "find_running_backups"
REQUEST_LEASE: Final = "request_lease"
RUNNING_WORKFLOWS: Final = "running_workflows"
KEYSPACE_OWNERS: Final = "keyspace_owners"
"""Keyspace strategies of the cluster's active schedules, read when a BackupRun starts."""
EXISTING_BACKUPS: Final = "existing_backups"
"""Which shards of a first-backup run already have a committed backup of their strategy."""
LIST_VERIFY_TARGETS: Final = "list_verify_targets"
"""The backup directories (committed or not) a ``backups verify`` names."""
VERIFY_BACKUP_JOB: Final = "verify_backup_job"
"""One ``shardkeeper agent verify`` job through the executor, awaited."""
PRUNE_REMOVED_SHARDS: Final = "prune_removed_shards"
"""A schedule's retention on shards a reshard removed, once per run."""
# Restore saga (workflows/restore.py, workflows/shard_restore.py)
RESOLVE_RESTORE_SET: Final = "resolve_restore_set"
VERIFY_BACKUP: Final = "verify_backup"
INSPECT_TARGET: Final = "inspect_target"
FENCE_TARGET: Final = "fence_target"
UNFENCE_TARGET: Final = "unfence_target"
SET_ASIDE_DATADIR: Final = "set_aside_datadir"
RETURN_DATADIR: Final = "return_datadir"
DISCARD_SET_ASIDE: Final = "discard_set_aside"
STAGE_RESTORE: Final = "stage_restore"
START_INSTANCE: Final = "start_instance"
STOP_INSTANCE: Final = "stop_instance"
VALIDATE_RESTORE: Final = "validate_restore"

# Signals of the ClusterBudget entity workflow and of its lease holders.
SIGNAL_REQUEST_LEASE: Final = "request_lease"
SIGNAL_RELEASE_LEASE: Final = "release_lease"
SIGNAL_LEASE_GRANTED: Final = "lease_granted"

# Search attributes (all Keyword), registered by temporal-dev.yaml on the dev server and by
# `temporal operator search-attribute create` on a real cluster.
SA_CLUSTER: Final = "ShardkeeperCluster"
SA_SCHEDULE: Final = "ShardkeeperSchedule"
SA_KEYSPACE: Final = "ShardkeeperKeyspace"
SA_SHARD: Final = "ShardkeeperShard"
SA_BACKUP_ID: Final = "ShardkeeperBackupId"
SA_OUTCOME: Final = "ShardkeeperOutcome"
SA_RESTORE_PHASE: Final = "ShardkeeperRestorePhase"
SA_STRATEGY: Final = "ShardkeeperStrategy"
"""The strategy a ShardBackup runs for (overlap is per schedule, strategy and shard)."""
SA_PHASE: Final = "ShardkeeperPhase"
"""``working`` once a ShardBackup is past its stagger sleep and deadline check (its claim)."""
PHASE_WORKING: Final = "working"
SEARCH_ATTRIBUTES: Final = (
    SA_CLUSTER, SA_SCHEDULE, SA_KEYSPACE, SA_SHARD, SA_BACKUP_ID, SA_OUTCOME, SA_RESTORE_PHASE,
    SA_STRATEGY, SA_PHASE,
)
