"""A job's status, read from its directory and ``/proc``; the same answer for every worker.

Every status of a job is built by :meth:`_Job.status`, so the fields a state shares (name,
labels, creation time, progress) are filled in one place.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from shardkeeper.activities.executor.base import (
    EXIT_PERMANENT,
    EXIT_SUCCEEDED,
    FAILURE_TAIL_LINES,
    JobState,
    JobStatus,
    error_file_type,
    failure_message,
)
from shardkeeper.activities.executor.local.launch_lock import starting
from shardkeeper.activities.executor.local.tails import progress, read_text, stderr_tail
from shardkeeper.activities.executor.local_runner import (
    CANCELLED_MARKER,
    CHILD_PID_FILE,
    ERROR_FILE,
    EXIT_CODE_FILE,
    REPORT_FILE,
    RUNNER_PID_FILE,
    SPEC_FILE,
    exit_record,
    read_json,
    write_json_atomic,
)
from shardkeeper.activities.executor.procfs import identity_alive

_ERROR_FILE_MAX_BYTES: Final = 64 * 1024
_NEVER_STARTED: Final = (
    "job never started: the worker launching it stopped before its runner did; "
    "launch() again starts it"
)


@dataclass(frozen=True)
class _Job:
    """What every status of one job shares."""

    job_dir: Path
    name: str
    labels: dict[str, str]
    created_at: datetime | None

    def status(
        self,
        state: JobState,
        *,
        record: dict[str, Any] | None = None,
        message: str | None = None,
        report_json: str | None = None,
        error_type: str | None = None,
    ) -> JobStatus:
        """The job's status in ``state``; ``record`` is its ``exit_code`` file once ended."""
        exit_code = _exit_code(record)
        return JobStatus(
            name=self.name,
            state=state,
            labels=self.labels,
            exit_code=exit_code,
            message=message,
            report_json=report_json,
            # A job that never started has no stdout; a missing one has no directory.
            progress_json=(
                progress(self.job_dir)
                if record is not None or state is JobState.RUNNING
                else None
            ),
            created_at=self.created_at,
            finished_at=parse_time(record.get("finished_at")) if record is not None else None,
            permanent=record is not None and exit_code == EXIT_PERMANENT,
            error_type=error_type,
        )


def job_status(job_dir: Path, name: str) -> JobStatus:
    """Status of the job in ``job_dir`` (MISSING if it has no spec).

    A job is RUNNING while any of its processes lives, FAILED if it never started and no
    launch is under way, and otherwise what its ``exit_code`` record says; a runner that died
    without recording one gets a recorded verdict here.
    """
    spec = read_json(job_dir / SPEC_FILE)
    if spec is None:
        return _Job(job_dir, name, {}, None).status(JobState.MISSING)
    labels = {str(k): str(v) for k, v in (spec.get("labels") or {}).items()}
    job = _Job(job_dir, name, labels, parse_time(spec.get("created_at")))
    record = read_json(job_dir / EXIT_CODE_FILE)
    if record is None:
        runner = read_json(job_dir / RUNNER_PID_FILE)
        if runner is None:
            if starting(job_dir):
                return job.status(JobState.RUNNING, message="starting")
            return job.status(JobState.FAILED, message=_NEVER_STARTED)
        if identity_alive(runner):
            return job.status(JobState.RUNNING)
        child = read_json(job_dir / CHILD_PID_FILE)
        if identity_alive(child):
            # Not finished while any process of the job lives: a relaunch now could run
            # two agents against the same object key.
            pid = child.get("pid") if child else None
            return job.status(
                JobState.RUNNING,
                message=f"job runner vanished; the agent (pid {pid}) is still running",
            )
        record = read_json(job_dir / EXIT_CODE_FILE)  # it may have just finished
        if record is None:
            record = _record_vanished(job_dir, runner)
    return _finished(job, record)


def _finished(job: _Job, record: dict[str, Any]) -> JobStatus:
    """The status of an ended job: its report on success, else why it failed."""
    if _exit_code(record) == EXIT_SUCCEEDED:
        report = read_text(job.job_dir / REPORT_FILE)
        return job.status(JobState.SUCCEEDED, record=record, report_json=report)
    reasons: list[str] = []
    record_reason = record.get("reason")
    if (job.job_dir / CANCELLED_MARKER).exists() and "cancelled" not in str(record_reason):
        reasons.append("cancelled")
    if record_reason:
        reasons.append(str(record_reason))
    error_json = read_text(job.job_dir / ERROR_FILE, _ERROR_FILE_MAX_BYTES)
    message = failure_message(
        exit_code=_exit_code(record),
        error_json=error_json,
        stderr_tail=stderr_tail(job.job_dir, FAILURE_TAIL_LINES),
        reason="; ".join(reasons) or None,
    )
    return job.status(
        JobState.FAILED, record=record, message=message, error_type=error_file_type(error_json)
    )


def _record_vanished(job_dir: Path, runner: dict[str, Any]) -> dict[str, Any]:
    """Persist the verdict on a job whose runner died without recording an exit status.

    Persisting gives the job a stable ``finished_at``; the exclusive write cannot hide a
    real record, because a dead runner writes nothing any more.
    """
    record = exit_record(
        None,
        reason=(
            f"job runner vanished (pid {runner.get('pid')}) without recording the agent's "
            "exit status: killed, or the host restarted"
        ),
    )
    with contextlib.suppress(OSError):  # a read-only view (the CLI) still gets the verdict
        write_json_atomic(job_dir / EXIT_CODE_FILE, record, exclusive=True)
    return read_json(job_dir / EXIT_CODE_FILE) or record


def _exit_code(record: dict[str, Any] | None) -> int | None:
    """The agent's exit code from an ``exit_code`` record (None: none recorded, or killed)."""
    raw = (record or {}).get("exit_code")
    return raw if isinstance(raw, int) else None


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp from a job file, or None if absent or malformed."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
