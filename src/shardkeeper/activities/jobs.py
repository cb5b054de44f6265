"""launch_backup, await_backup, prune_jobs: agent jobs through an executor.

Launch is create-if-absent-else-attach on a deterministic job name, so a retried activity or
a restarted worker never starts a second backup for a slot. The wait heartbeats the agent's
progress; when the worker shuts down it leaves the job running for the next worker to find.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from shardkeeper.activities.executor.base import Executor, JobSpec, JobState, JobStatus
from shardkeeper.activities.executor.local import LocalExecutor
from shardkeeper.activities.heartbeat import Heartbeater
from shardkeeper.contracts import names
from shardkeeper.contracts.agent import AgentBackupReport, AgentProgress
from shardkeeper.contracts.backup import (
    AwaitBackupHeartbeat,
    AwaitBackupInput,
    AwaitBackupResult,
    LaunchBackupInput,
    LaunchBackupResult,
    PruneJobsInput,
    PruneJobsResult,
)
from shardkeeper.contracts.common import ExecutorConfig
from shardkeeper.errors import JobTimedOut

log = structlog.get_logger(__name__)

AGENT_BACKUP_ARGV = [sys.executable, "-m", "shardkeeper", "agent", "backup"]
POLL_INTERVAL_SECONDS = 1.0


def job_failed(status: JobStatus) -> ApplicationError:
    """The error for a finished, failed job.

    Type ``JobFailed`` tells the workflow "this job is over; a new job may succeed". An agent
    that exited with a permanent error keeps its own type (AccessDenied, ...) so the workflow
    stops trying.
    """
    message = f"job {status.name} failed: {status.message or 'no message'}"
    error_type = "JobFailed"
    if status.permanent:
        error_type = status.error_type or "PermanentError"
    return ApplicationError(message, type=error_type, non_retryable=True)


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
        for old in inp.supersedes:
            # an earlier job of this slot must never run beside the new one
            await executor.cancel(old)
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
        """Wait for the job to end, heartbeating its progress."""
        executor = self.executor(inp.executor)
        beat = AwaitBackupHeartbeat(job_name=inp.job_name, state="running")

        def details() -> AwaitBackupHeartbeat:
            return beat

        try:
            async with Heartbeater(details):
                while True:
                    status = await executor.status(inp.job_name)
                    if status.state == JobState.SUCCEEDED:
                        if not status.report_json:
                            raise ApplicationError(
                                f"job {inp.job_name} succeeded without a report",
                                type="JobFailed", non_retryable=True,
                            )
                        report = AgentBackupReport.model_validate_json(status.report_json)
                        return AwaitBackupResult(report=report)
                    if status.state == JobState.FAILED:
                        raise job_failed(status)
                    if status.state == JobState.MISSING:
                        raise ApplicationError(
                            f"job {inp.job_name} does not exist (deleted or never started)",
                            type="JobFailed", non_retryable=True,
                        )
                    beat = _progress(inp.job_name, status, beat)
                    await self._enforce_timeout(executor, inp, status)
                    await asyncio.sleep(POLL_INTERVAL_SECONDS)
        except asyncio.CancelledError:
            # Worker shutdown: leave the job running, the next attempt re-attaches.
            # Workflow cancellation: stop the job, nobody will wait for it.
            if not activity.is_worker_shutdown():
                await executor.cancel(inp.job_name)
            raise

    async def _enforce_timeout(
        self, executor: Executor, inp: AwaitBackupInput, status: JobStatus
    ) -> None:
        if not inp.job_timeout_seconds or inp.job_timeout_seconds < 0 or not status.created_at:
            return
        elapsed = (datetime.now(UTC) - status.created_at).total_seconds()
        if elapsed > inp.job_timeout_seconds:
            await executor.cancel(inp.job_name)
            raise JobTimedOut(
                f"job {inp.job_name} ran {elapsed:.0f}s, over its timeout of "
                f"{inp.job_timeout_seconds}s; it was stopped"
            )

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


def _progress(job: str, status: JobStatus, previous: AwaitBackupHeartbeat) -> AwaitBackupHeartbeat:
    if not status.progress_json:
        return previous
    try:
        p = AgentProgress.model_validate(json.loads(status.progress_json))
    except ValueError:
        return previous
    return AwaitBackupHeartbeat(job_name=job, state=p.phase, bytes_uploaded=p.bytes_streamed,
                                rate_bytes_per_second=p.rate_bytes_per_second)
