"""launch_backup, await_backup, prune_jobs: agent jobs through an executor.

Launch is create-if-absent-else-attach on a deterministic job name, so a retried activity or
a restarted worker never starts a second backup for a slot. The wait heartbeats the agent's
progress; when the worker shuts down it leaves the job running for the next worker to find.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import structlog
from temporalio import activity

from shardkeeper.activities.agent_job import wait_for_job
from shardkeeper.activities.executor.base import Executor, JobSpec, JobState
from shardkeeper.activities.executor.local import LocalExecutor
from shardkeeper.activities.heartbeat import Heartbeater
from shardkeeper.contracts import names
from shardkeeper.contracts.agent import AgentBackupReport
from shardkeeper.contracts.backup import (
    AwaitBackupHeartbeat,
    AwaitBackupInput,
    AwaitBackupResult,
    LaunchBackupInput,
    LaunchBackupResult,
    PruneJobsInput,
    PruneJobsResult,
)
from shardkeeper.contracts.common import ExecutorConfig, Role
from shardkeeper.datapath.backup.replica import resume_sql_thread

log = structlog.get_logger(__name__)

AGENT_BACKUP_ARGV = [sys.executable, "-m", "shardkeeper.agent", "backup"]


class JobActivities:
    """Activities that drive executors; holds the worker's default jobs directory."""

    def __init__(self, jobs_dir: Path, agent_argv: list[str] | None = None) -> None:
        self._jobs_dir = jobs_dir
        self._agent_argv = list(agent_argv or AGENT_BACKUP_ARGV)

    def executor(self, config: ExecutorConfig) -> Executor:
        """The executor a config names."""
        if config.kind == "kubernetes":
            # imported here: the kubernetes client is only loaded by workers that use it
            from shardkeeper.activities.executor.kubernetes import KubernetesExecutor

            return KubernetesExecutor(config)
        return LocalExecutor(Path(config.jobs_dir) if config.jobs_dir else self._jobs_dir)

    @activity.defn(name=names.LAUNCH_BACKUP)
    async def launch_backup(self, inp: LaunchBackupInput) -> LaunchBackupResult:
        """Start the agent job, or attach to it if this slot's job already exists."""
        executor = self.executor(inp.executor)
        async with Heartbeater(lambda: None):  # a lost worker is noticed in seconds
            for old in inp.supersedes:
                # an earlier job of this slot must never run beside the new one
                await executor.cancel(old)
            if inp.supersedes and inp.request.source.role == Role.REPLICA:
                # a killed attempt can leave the replica's SQL thread stopped (its
                # --safe-slave-backup never finished); the new attempt would keep it so
                await asyncio.to_thread(resume_sql_thread, inp.request.source,
                                        inp.request.credentials)
            spec = JobSpec(
                name=inp.job_name,
                argv=list(self._agent_argv),
                request_json=inp.request.model_dump_json(),
                labels=dict(inp.labels),
            )
            status, attached = await executor.launch(spec)
        log.info("backup job launched", job=inp.job_name, attached=attached,
                 state=status.state.value)
        return LaunchBackupResult(job_name=inp.job_name, attached=attached)

    @activity.defn(name=names.AWAIT_BACKUP)
    async def await_backup(self, inp: AwaitBackupInput) -> AwaitBackupResult:
        """Wait for the job to end, heartbeating its progress (see ``agent_job``)."""
        report_json = await wait_for_job(
            self.executor(inp.executor), inp.job_name,
            AwaitBackupHeartbeat(job_name=inp.job_name, state="running"),
            lambda p: AwaitBackupHeartbeat(
                job_name=inp.job_name, state=p.phase, bytes_uploaded=p.bytes_streamed,
                rate_bytes_per_second=p.rate_bytes_per_second),
            timeout_seconds=inp.job_timeout_seconds,
        )
        return AwaitBackupResult(report=AgentBackupReport.model_validate_json(report_json))

    @activity.defn(name=names.PRUNE_JOBS)
    async def prune_jobs(self, inp: PruneJobsInput) -> PruneJobsResult:
        """Keep the newest N succeeded and M failed jobs of a shard; never touch running ones."""
        executor = self.executor(inp.executor)
        jobs = await executor.list(dict(inp.labels))
        removed: list[str] = []
        for state, keep in ((JobState.SUCCEEDED, inp.successful_jobs_history_limit),
                            (JobState.FAILED, inp.failed_jobs_history_limit)):
            done = [j for j in jobs if j.state == state]
            done.sort(key=lambda j: j.created_at or datetime.min.replace(tzinfo=UTC),
                      reverse=True)
            for job in done[keep:]:
                await executor.delete(job.name)
                removed.append(job.name)
        return PruneJobsResult(removed=tuple(removed))

