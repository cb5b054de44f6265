"""A Job and its pods mapped to a ``JobStatus``: the same answer for every worker.

Every status is built by :meth:`_JobView.status`, so the fields every state shares (name,
labels, creation time, progress) are filled in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from shardkeeper.activities.executor.base import (
    EXIT_PERMANENT,
    EXIT_SUCCEEDED,
    FAILURE_TAIL_LINES,
    JobState,
    JobStatus,
    error_file_type,
    failure_message,
    last_json_line,
    tail_lines,
)
from shardkeeper.activities.executor.kubernetes.pod_status import (
    any_running,
    aware,
    finished_condition,
    is_error_json,
    pod_phase,
    terminated,
    waiting_message,
)
from shardkeeper.activities.executor.render import raw_labels

CANCELLED_ANNOTATION: Final = "shardkeeper.io/cancelled-at"


@dataclass(frozen=True)
class _JobView:
    """What every status of one Job shares."""

    name: str
    labels: dict[str, str]
    created_at: datetime | None
    progress_json: str | None

    def status(
        self,
        state: JobState,
        *,
        exit_code: int | None = None,
        message: str | None = None,
        report_json: str | None = None,
        finished_at: datetime | None = None,
        permanent: bool = False,
        error_type: str | None = None,
    ) -> JobStatus:
        """The Job's status in ``state``."""
        return JobStatus(
            name=self.name,
            state=state,
            labels=self.labels,
            exit_code=exit_code,
            message=message,
            report_json=report_json,
            progress_json=self.progress_json,
            created_at=self.created_at,
            finished_at=finished_at,
            permanent=permanent,
            error_type=error_type,
        )


def missing(name: str) -> JobStatus:
    """The status of a Job that does not exist."""
    return _JobView(name, {}, None, None).status(JobState.MISSING)


def job_status(job: Any, pods: list[Any], log_text: str) -> JobStatus:
    """Map a Job, its pods (oldest first) and its newest pod's log to a JobStatus.

    Args:
        job: The Job.
        pods: Its pods, oldest first.
        log_text: The tail of the newest pod's log, "" if not read (``list`` skips it).
    """
    view = _JobView(
        name=job.metadata.name,
        labels=raw_labels(job.metadata),
        created_at=aware(job.metadata.creation_timestamp),
        progress_json=last_json_line(log_text, require_key="phase") if log_text else None,
    )
    pod = pods[-1] if pods else None
    condition = finished_condition(job)
    cancelled = (job.metadata.annotations or {}).get(CANCELLED_ANNOTATION)
    if condition is not None and condition.type == "Complete":
        succeeded = next((p for p in reversed(pods) if pod_phase(p) == "Succeeded"), pod)
        report = terminated(succeeded)
        return view.status(
            JobState.SUCCEEDED,
            exit_code=EXIT_SUCCEEDED,
            report_json=(report.message or None) if report is not None else None,
            finished_at=aware(job.status.completion_time),
        )
    if condition is None and not (cancelled and not any_running(pods)):
        return view.status(JobState.RUNNING, message=waiting_message(pod))
    return _failed(view, condition, bool(cancelled), terminated(pod), log_text)


def _failed(
    view: _JobView, condition: Any, cancelled: bool, ended: Any, log_text: str
) -> JobStatus:
    """The status of a failed (or cancelled) Job from its condition and the agent's end.

    The agent's termination message is its error file if it is one, else its stderr tail;
    with neither, the pod log's tail explains the failure.
    """
    reasons: list[str] = []
    if cancelled:
        reasons.append("cancelled")
    deadline = condition is not None and condition.reason == "DeadlineExceeded"
    if condition is not None:
        reasons.append(f"{condition.reason or 'Failed'}: {condition.message or ''}".strip())
    exit_code = ended.exit_code if ended is not None else None
    text = (ended.message or "") if ended is not None else ""
    error_json = text if is_error_json(text) else None
    stderr_tail = "" if error_json else text
    if not error_json and not stderr_tail:
        stderr_tail = tail_lines(log_text, FAILURE_TAIL_LINES)
    finished_at = aware(getattr(condition, "last_transition_time", None)) or aware(
        ended.finished_at if ended is not None else None
    )
    return view.status(
        JobState.FAILED,
        exit_code=exit_code,
        message=failure_message(
            exit_code=exit_code, error_json=error_json, stderr_tail=stderr_tail,
            reason="; ".join(reasons) or None,
        ),
        finished_at=finished_at,
        permanent=deadline or exit_code == EXIT_PERMANENT,
        error_type="JobTimedOut" if deadline else error_file_type(error_json),
    )
