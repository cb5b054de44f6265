"""Every workflow and activity the worker registers (one list, checked against contracts.names)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shardkeeper.activities import readiness, storage, topology
from shardkeeper.activities.jobs import JobActivities
from shardkeeper.workflows.backup_run import BackupRunWorkflow
from shardkeeper.workflows.shard_backup import ShardBackupWorkflow

WORKFLOWS: Sequence[type] = (BackupRunWorkflow, ShardBackupWorkflow)


def activities(jobs_dir: Path) -> list[Callable[..., Any]]:
    """Activity callables, bound to the worker's settings."""
    jobs = JobActivities(jobs_dir)
    return [
        topology.resolve_shards,
        readiness.check_shard_readiness,
        readiness.choose_source,
        jobs.launch_backup,
        jobs.await_backup,
        jobs.prune_jobs,
        storage.verify_upload,
        storage.write_manifest,
        storage.prune_backups,
    ]
