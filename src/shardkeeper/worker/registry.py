"""Every workflow and activity the worker registers (one list, checked against contracts.names)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shardkeeper.activities import (
    catalog,
    coordination,
    fencing,
    instances,
    ownership,
    readiness,
    storage,
    topology,
)
from shardkeeper.activities import restore as restore_acts
from shardkeeper.activities import verify as verify_acts
from shardkeeper.activities.jobs import JobActivities
from shardkeeper.workflows.backup_run import BackupRunWorkflow
from shardkeeper.workflows.cluster_budget import ClusterBudgetWorkflow
from shardkeeper.workflows.restore import RestoreWorkflow
from shardkeeper.workflows.shard_backup import ShardBackupWorkflow
from shardkeeper.workflows.shard_restore import ShardRestoreWorkflow
from shardkeeper.workflows.verify import VerifyBackupsWorkflow

WORKFLOWS: Sequence[type] = (
    BackupRunWorkflow, ShardBackupWorkflow, ClusterBudgetWorkflow,
    RestoreWorkflow, ShardRestoreWorkflow, VerifyBackupsWorkflow,
)


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
        coordination.find_running_backups,
        coordination.request_lease,
        coordination.running_workflows,
        ownership.keyspace_owners,
        catalog.existing_backups,
        catalog.prune_removed_shards,
        verify_acts.list_verify_targets,
        verify_acts.VerifyActivities(jobs_dir).verify_backup_job,
        *restore_activities(jobs_dir),
    ]


def restore_activities(jobs_dir: Path) -> list[Callable[..., Any]]:
    """The restore saga's activities (``Restore``/``ShardRestore``)."""
    restore = restore_acts.RestoreActivities(jobs_dir)
    return [
        restore_acts.resolve_restore_set,
        restore_acts.verify_backup,
        restore_acts.validate_restore,
        restore.set_aside_datadir,
        restore.return_datadir,
        restore.discard_set_aside,
        restore.stage_restore,
        fencing.inspect_target,
        fencing.fence_target,
        fencing.unfence_target,
        instances.start_instance,
        instances.stop_instance,
    ]
