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

# Search attributes (all Keyword), registered by temporal-dev.yaml on the dev server and by
# `temporal operator search-attribute create` on a real cluster.
SA_CLUSTER: Final = "ShardkeeperCluster"
SA_SCHEDULE: Final = "ShardkeeperSchedule"
SA_KEYSPACE: Final = "ShardkeeperKeyspace"
SA_SHARD: Final = "ShardkeeperShard"
SA_BACKUP_ID: Final = "ShardkeeperBackupId"
SA_OUTCOME: Final = "ShardkeeperOutcome"
SEARCH_ATTRIBUTES: Final = (
    SA_CLUSTER, SA_SCHEDULE, SA_KEYSPACE, SA_SHARD, SA_BACKUP_ID, SA_OUTCOME,
)
