"""The executor interface: how activities start, watch and clean up agent jobs.

An executor runs one ``shardkeeper agent …`` process per shard operation, somewhere other
than the worker: a detached local process (``local/``) or a Kubernetes Job (``kubernetes/``). This
module owns what both share: the job's spec and status types, the ``Executor`` protocol, the
agent contract (environment variables, exit codes, the error file) and the helpers that turn
what a finished agent left behind into a ``JobStatus``.

It imports no temporalio: the activities that call an executor do the heartbeating, so the
executors stay testable without a Temporal server.

The agent contract, identical for every executor:

- the request (credential *references* only) is in the file named by
  ``SHARDKEEPER_REQUEST_FILE``; it is never passed on the command line, which ``ps`` shows;
- on success the agent writes its report JSON to ``SHARDKEEPER_REPORT_FILE``;
- on failure it writes ``{"error_type": ..., "message": ...}`` to ``SHARDKEEPER_ERROR_FILE``;
- progress goes to stdout as one JSON object per line, logs go to stderr;
- exit code 0 = success, 1 = temporary failure, 2 = permanent failure.
"""

from __future__ import annotations

import json
import re
import signal
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol, runtime_checkable

REQUEST_FILE_ENV: Final = "SHARDKEEPER_REQUEST_FILE"
"""Environment variable naming the file that holds the agent's request JSON."""
REPORT_FILE_ENV: Final = "SHARDKEEPER_REPORT_FILE"
"""Environment variable naming the file the agent writes its report to (success only)."""
ERROR_FILE_ENV: Final = "SHARDKEEPER_ERROR_FILE"
"""Environment variable naming the file the agent writes its error JSON to (failure only)."""

EXIT_SUCCEEDED: Final = 0
EXIT_TEMPORARY: Final = 1
EXIT_PERMANENT: Final = 2

# A failure message ends up in a Temporal failure (and in the Web UI): keep it bounded so a
# chatty agent cannot push an activity result over the payload limit.
MAX_MESSAGE_CHARS: Final = 4000
# The stderr lines quoted in a failure message when the agent left no error file.
FAILURE_TAIL_LINES: Final = 20

_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def validate_job_name(name: str) -> str:
    """Check that ``name`` is a DNS-1123 label (what ``naming.job_name`` produces).

    Both executors rely on it: the local one uses the name as a directory name (so ``..`` or
    ``/`` must be impossible), Kubernetes as the Job's ``metadata.name``.

    Args:
        name: The job name.

    Returns:
        The name, unchanged.

    Raises:
        ValueError: The name is not a DNS-1123 label of at most 63 characters.
    """
    if not _DNS_LABEL_RE.match(name):
        raise ValueError(f"job name {name!r} is not a DNS-1123 label (see naming.job_name)")
    return name


class JobState(StrEnum):
    """Where a job is in its life."""

    RUNNING = "running"
    """Created and not finished (includes "starting")."""
    SUCCEEDED = "succeeded"
    """The agent exited 0."""
    FAILED = "failed"
    """The agent exited non-zero, was killed, or its runner vanished."""
    MISSING = "missing"
    """No job of that name exists (never created, or deleted)."""


@dataclass(frozen=True)
class JobSpec:
    """Everything needed to start one agent job.

    The same name always means the same job: ``launch`` never changes an existing job, it
    attaches to it. The request may name credentials but never contain them.
    """

    name: str
    """Deterministic DNS-1123 label, from ``naming.job_name``."""
    argv: list[str]
    """The agent command, e.g. ``[sys.executable, "-m", "shardkeeper.agent", "backup"]``."""
    request_json: str
    """The agent's request; holds credential references only, never secrets."""
    labels: dict[str, str]
    """cluster, keyspace, shard, schedule, strategy, backup-id …; used by ``list`` and pruning."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra non-secret environment for the agent."""

    def __post_init__(self) -> None:
        """Reject specs no executor could run."""
        validate_job_name(self.name)
        if not self.argv:
            raise ValueError(f"job {self.name}: argv is empty")


@dataclass(frozen=True)
class JobStatus:
    """What an executor knows about one job, at the moment it was asked."""

    name: str
    state: JobState
    labels: dict[str, str]
    exit_code: int | None
    """The agent's exit code once finished; 128 + signal number when killed by a signal."""
    message: str | None
    """Why it failed: the agent's error file (type: message) if any, else the stderr tail."""
    report_json: str | None
    """The agent's report (success only)."""
    progress_json: str | None
    """The last progress line the agent printed on stdout."""
    created_at: datetime | None
    finished_at: datetime | None
    permanent: bool = False
    """The agent exited 2: retrying the same request cannot help."""
    error_type: str | None = None
    """``error_type`` from the agent's error file (an ``errors.py`` class name), if any."""

    @property
    def finished(self) -> bool:
        """Whether the job has ended (succeeded or failed)."""
        return self.state in (JobState.SUCCEEDED, JobState.FAILED)


# `list` is also a method name of Executor; an alias keeps the annotation unambiguous.
JobStatusList = list[JobStatus]


@runtime_checkable
class Executor(Protocol):
    """Runs agent jobs outside the worker; every method is idempotent.

    Implementations: ``LocalExecutor`` (detached local process) and, later, a Kubernetes
    Job executor. A job is identified by its name only, so a restarted worker (or another
    worker) can find a job some earlier attempt created.
    """

    async def launch(self, spec: JobSpec) -> tuple[JobStatus, bool]:
        """Create the job if absent, else attach to the existing one.

        Args:
            spec: The job to run.

        Returns:
            The job's current status and whether it already existed (attached). A job that
            exists is never changed or restarted, whatever its state: a failed job stays
            failed until it is deleted.
        """
        ...

    async def status(self, name: str) -> JobStatus:
        """Current status of a job; ``JobState.MISSING`` if there is no such job."""
        ...

    async def logs(self, name: str, tail_lines: int = 50) -> str:
        """The last ``tail_lines`` lines of the agent's stderr ("" if there is none)."""
        ...

    async def cancel(self, name: str) -> None:
        """Stop a running job (SIGTERM, then SIGKILL after a grace period); idempotent."""
        ...

    async def delete(self, name: str) -> None:
        """Remove the job and all its state, cancelling it first if running; idempotent."""
        ...

    async def list(self, labels: dict[str, str]) -> JobStatusList:
        """Jobs whose labels include all of ``labels``, oldest first."""
        ...


def _bounded(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Cut ``text`` to ``limit`` characters, keeping the end (where the cause usually is)."""
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def error_file_summary(error_json: str | None) -> str | None:
    """Render the agent's error file as ``"Type: message"``.

    Args:
        error_json: The file's content, or None when the agent wrote none.

    Returns:
        The summary, the raw text when it is not the expected JSON object, or None when
        there is nothing to say.
    """
    if error_json is None or not error_json.strip():
        return None
    try:
        data = json.loads(error_json)
    except ValueError:
        return _bounded(error_json.strip())
    if not isinstance(data, dict):
        return _bounded(error_json.strip())
    error_type = str(data.get("error_type") or "Error")
    message = str(data.get("message") or "")
    return _bounded(f"{error_type}: {message}" if message else error_type)


def error_file_type(error_json: str | None) -> str | None:
    """The ``error_type`` the agent put in its error file, if any."""
    if not error_json:
        return None
    try:
        data = json.loads(error_json)
    except ValueError:
        return None
    value = data.get("error_type") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def failure_message(
    *,
    exit_code: int | None,
    error_json: str | None,
    stderr_tail: str,
    reason: str | None = None,
) -> str:
    """The ``JobStatus.message`` of a failed job, the same for every executor.

    The agent's own error file wins; without one the exit status and the stderr tail are
    the best explanation available.

    Args:
        exit_code: The agent's exit code (128 + n for signal n), None if unknown.
        error_json: The agent's error file content, if it wrote one.
        stderr_tail: The last lines of the agent's stderr.
        reason: What the executor itself observed (cancelled, runner vanished, …).

    Returns:
        A bounded, human-readable message.
    """
    parts: list[str] = []
    if reason:
        parts.append(reason)
    summary = error_file_summary(error_json)
    if summary:
        parts.append(summary)
    else:
        if exit_code is not None:
            parts.append(f"agent exited with code {exit_code}{_signal_note(exit_code)}")
        tail = stderr_tail.strip()
        if tail:
            parts.append(f"stderr tail:\n{tail}")
    return _bounded("; ".join(parts) if parts else "job failed without explanation")


def _signal_note(exit_code: int) -> str:
    """The signal's name for exit codes 129 to 192 (`` (SIGKILL)`` for 137), else ""."""
    if exit_code <= 128 or exit_code > 128 + 64:
        return ""
    try:
        return f" ({signal.Signals(exit_code - 128).name})"
    except ValueError:
        return ""


def last_json_line(text: str, *, require_key: str | None = None) -> str | None:
    """The last line of ``text`` that is a complete JSON object (the latest progress line).

    Partial lines (the agent is mid-write) and non-JSON noise are skipped rather than
    returned, so callers can always ``json.loads`` the result.

    Args:
        text: The tail of the agent's stdout.
        require_key: Only accept objects with this key. Needed where stdout and stderr
            arrive merged (Kubernetes pod logs) and the agent's JSON log lines must not be
            mistaken for progress (e.g. ``"phase"``).

    Returns:
        The line without its newline, or None when there is no JSON object line.
    """
    for line in reversed(text.splitlines()):
        candidate = line.strip()
        if not (candidate.startswith("{") and candidate.endswith("}")):
            continue
        try:
            parsed = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(parsed, dict) and (require_key is None or require_key in parsed):
            return candidate
    return None


def tail_lines(text: str, count: int) -> str:
    """The last ``count`` lines of ``text`` (all of it when shorter)."""
    if count <= 0:
        return ""
    lines = text.splitlines()
    return "\n".join(lines[-count:])
