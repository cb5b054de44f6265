"""Wait for one agent job: the loop behind ``await_backup`` and ``stage_restore``.

Optionally launch (create-or-attach on the deterministic job name), then poll the executor,
heartbeating the agent's progress as the caller's details type, until the job ends:

* succeeded with a report → the report JSON;
* failed → :class:`~shardkeeper.errors.JobFailed` (a new job may succeed), or the agent's own
  permanent error (AccessDenied, ...) when it exited 2, so nobody tries again;
* vanished, or succeeded without a report → JobFailed;
* ran past its deadline (the backup's jobTimeout, from the job's real start) → stopped, then
  :class:`~shardkeeper.errors.JobTimedOut`.

Cancellation: on worker shutdown the job keeps running, the next attempt re-attaches by name;
when the workflow cancels the activity, the job is stopped, since nobody will wait for it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel
from temporalio import activity

from shardkeeper.activities.executor.base import Executor, JobSpec, JobState, JobStatus
from shardkeeper.activities.failures import to_application_error
from shardkeeper.activities.heartbeat import Heartbeater
from shardkeeper.contracts.agent import AgentProgress
from shardkeeper.errors import JobFailed, JobTimedOut, ShardkeeperError, reported_error

POLL_INTERVAL_SECONDS = 1.0

Beat = TypeVar("Beat", bound=BaseModel)


async def wait_for_job(
    executor: Executor,
    job_name: str,
    first_beat: Beat,
    beat_of: Callable[[AgentProgress], Beat],
    *,
    launch: JobSpec | None = None,
    timeout_seconds: int | None = None,
) -> str:
    """Wait for ``job_name`` to end (launching ``launch`` first, if given); its report JSON.

    Args:
        executor: The executor that runs the job.
        job_name: The job's deterministic name.
        first_beat: Heartbeat details until the agent reports progress.
        beat_of: Heartbeat details for the agent's latest progress line.
        launch: Create (or attach to) this job before waiting.
        timeout_seconds: Stop the job and fail once it has run this long; none when
            absent or not positive.

    Raises:
        JobFailed: The job failed, vanished, or succeeded without a report.
        JobTimedOut: The job ran past ``timeout_seconds`` and was stopped.
    """
    beat: BaseModel = first_beat
    try:
        async with Heartbeater(lambda: beat):
            if launch is not None:
                await executor.launch(launch)
            while True:
                status = await executor.status(job_name)
                if status.state == JobState.SUCCEEDED:
                    if not status.report_json:
                        raise JobFailed(f"job {job_name} succeeded without a report")
                    return status.report_json
                if status.state == JobState.FAILED:
                    # Converted here, not by the worker's interceptor: the outcome's type
                    # comes from the agent's error file, and callers of the activity itself
                    # (tests in an ActivityEnvironment) see what the workflow sees.
                    raise to_application_error(job_failure(status)) from None
                if status.state == JobState.MISSING:
                    raise JobFailed(f"job {job_name} does not exist (deleted or never started)")
                beat = _latest(status, beat_of, beat)
                await _enforce_timeout(executor, status, timeout_seconds)
                await asyncio.sleep(POLL_INTERVAL_SECONDS)
    except asyncio.CancelledError:
        # Worker shutdown: leave the job running, the next attempt re-attaches.
        # Workflow cancellation: stop the job, nobody will wait for it.
        if not activity.is_worker_shutdown():
            await executor.cancel(job_name)
        raise


def job_failure(status: JobStatus) -> ShardkeeperError:
    """The error of a job that ended failed.

    :class:`JobFailed` says "this job is over; a new job may succeed". An agent that exited
    with a permanent error keeps its own type (AccessDenied, ...) so the workflow stops trying.
    """
    message = f"job {status.name} failed: {status.message or 'no message'}"
    if status.permanent:
        return reported_error(status.error_type, message)
    return JobFailed(message)


async def _enforce_timeout(
    executor: Executor, status: JobStatus, timeout_seconds: int | None
) -> None:
    if not timeout_seconds or timeout_seconds < 0 or not status.created_at:
        return
    elapsed = (datetime.now(UTC) - status.created_at).total_seconds()
    if elapsed > timeout_seconds:
        await executor.cancel(status.name)
        raise JobTimedOut(
            f"job {status.name} ran {elapsed:.0f}s, over its timeout of "
            f"{timeout_seconds}s; it was stopped"
        )


def _latest(
    status: JobStatus, beat_of: Callable[[AgentProgress], Beat], previous: BaseModel
) -> BaseModel:
    """Heartbeat details for the agent's last progress line; unreadable lines keep the last."""
    if not status.progress_json:
        return previous
    try:
        progress = AgentProgress.model_validate(json.loads(status.progress_json))
    except ValueError:
        return previous
    return beat_of(progress)
