"""LocalExecutor: agent jobs as detached processes on this host (the embedded default).

Each job is a directory ``<jobs_dir>/<name>/`` (layout in ``local_runner``); everything this
executor knows about a job comes from that directory and ``/proc``, so a restarted worker —
a new ``LocalExecutor`` on the same ``jobs_dir`` — re-attaches to jobs an earlier worker
started, and two workers on one host agree on every job.

How the races are closed:

- **Create if absent.** ``launch`` builds the directory under a private temporary name and
  ``rename()``s it into place; a directory appears complete (spec and request written) or
  not at all, and of two concurrent launches exactly one rename succeeds, the other attaches.
- **One agent per job.** The runner claims a job by creating ``runner.pid`` with ``link()``,
  which fails if the file exists; any number of runners may be started for one directory,
  only one ever starts the agent.
- **Half-created jobs.** A worker that dies after the rename but before its runner claimed
  the job leaves a directory with no ``runner.pid`` and no ``exit_code``. The launching
  worker holds ``flock(launch.lock)`` until the claim is settled, and the kernel drops that
  lock when the worker dies; a later ``launch`` that can take the lock (and still finds no
  claim) starts a runner for the existing spec. It needs no age check: should the dead
  worker's runner still be starting, the exclusive claim lets only one of the two run.
- **Recycled pids.** A pid is trusted only together with its ``/proc`` start time and the
  boot id.

This module must not import temporalio: the activities that call it heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from shardkeeper.activities.executor.base import (
    EXIT_PERMANENT,
    EXIT_SUCCEEDED,
    FAILURE_TAIL_LINES,
    Executor,
    JobSpec,
    JobState,
    JobStatus,
    JobStatusList,
    error_file_type,
    failure_message,
    last_json_line,
    tail_lines,
    validate_job_name,
)
from shardkeeper.activities.executor.local_runner import (
    CANCELLED_MARKER,
    CHILD_PID_FILE,
    ERROR_FILE,
    EXIT_CODE_FILE,
    LAUNCH_LOCK,
    REPORT_FILE,
    REQUEST_FILE,
    RUNNER_LOG,
    RUNNER_MODULE,
    RUNNER_PID_FILE,
    SPEC_FILE,
    STDERR_LOG,
    STDOUT_LOG,
    exit_record,
    identity_alive,
    now_utc,
    proc_pgid,
    read_json,
    write_atomic,
    write_json_atomic,
)
from shardkeeper.errors import JobFailed

# A job directory without runner.pid counts as "starting" this long after its last launch
# attempt, then as "never started" (launch() relaunches it). Generous, because a loaded host
# can take seconds to start a Python process; the launcher itself gives up much earlier.
STARTING_GRACE_SECONDS: Final = 30.0
# How long launch() waits for the runner to claim the job before reporting a failure.
DEFAULT_START_TIMEOUT_SECONDS: Final = 15.0
# SIGTERM → SIGKILL grace, as a Kubernetes pod's terminationGracePeriodSeconds.
DEFAULT_CANCEL_GRACE_SECONDS: Final = 10.0
# After SIGKILL of the agent the runner still has to record its exit status.
_RECORD_WAIT_SECONDS: Final = 2.0
_KILL_WAIT_SECONDS: Final = 5.0
_POLL_SECONDS: Final = 0.05
# A concurrent launcher holds launch.lock while its runner starts (a fraction of a second).
# Waiting that long usually lets this call find the claim and attach; attaching to a job
# that is still starting is right as well, so the wait stays short.
_LOCK_RETRY_SECONDS: Final = 0.25
# Progress is the last line of stdout: reading the last 64 KiB finds it without reading a
# log that may have grown large.
_STDOUT_TAIL_BYTES: Final = 64 * 1024
_ERROR_FILE_MAX_BYTES: Final = 64 * 1024
_LOG_TAIL_MAX_BYTES: Final = 4 * 1024 * 1024
# Leftovers of crashed launches (.tmp-*) and deletes (.trash-*) are swept after this long.
_SWEEP_AFTER_SECONDS: Final = 3600.0


class LocalExecutor(Executor):
    """Runs agent jobs as detached local processes with their state in ``jobs_dir``.

    The instance holds no state of its own: creating one per activity call, or one per
    worker, or one in each of two workers on the same host, behaves the same. The agent
    runs in the job directory with the worker's environment (credential references may
    name variables in it) plus ``JobSpec.env`` and the agent-contract variables.

    Args:
        jobs_dir: Where job directories live; created (mode 0700) if absent. Local to this
            host: pids mean nothing on another machine.
        cancel_grace_seconds: Time between SIGTERM and SIGKILL in ``cancel``.
        start_timeout_seconds: How long ``launch`` waits for the runner to claim the job.
        python: Interpreter that runs the runner (default: the worker's own).
    """

    def __init__(
        self,
        jobs_dir: Path,
        *,
        cancel_grace_seconds: float = DEFAULT_CANCEL_GRACE_SECONDS,
        start_timeout_seconds: float = DEFAULT_START_TIMEOUT_SECONDS,
        python: str = sys.executable,
    ) -> None:
        self.jobs_dir = Path(jobs_dir)
        self.jobs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.cancel_grace_seconds = cancel_grace_seconds
        self.start_timeout_seconds = start_timeout_seconds
        self.python = python

    def job_dir(self, name: str) -> Path:
        """The directory of job ``name`` (which must be a DNS-1123 label)."""
        return self.jobs_dir / validate_job_name(name)

    # ------------------------------------------------------------------ Executor API

    async def launch(self, spec: JobSpec) -> tuple[JobStatus, bool]:
        """Create the job and start its runner, or attach to the existing job.

        A job directory that exists is never changed; one left half-created by a dead
        worker is started from its own ``spec.json`` and ``request.json`` (and reported as
        not attached, since this call started it).

        Raises:
            JobFailed: The runner could not start (the job stays relaunchable).
        """
        # One thread for the whole critical section: if this coroutine is cancelled, the
        # thread still finishes and releases launch.lock.
        attached = await asyncio.to_thread(self._launch_sync, spec)
        return await self.status(spec.name), attached

    async def status(self, name: str) -> JobStatus:
        """Status of job ``name`` from its directory and ``/proc`` (MISSING if absent)."""
        return await asyncio.to_thread(self._status_sync, name)

    async def logs(self, name: str, tail_lines: int = 50) -> str:
        """The last ``tail_lines`` lines of the agent's stderr."""
        return await asyncio.to_thread(self._stderr_tail, self.job_dir(name), tail_lines)

    async def cancel(self, name: str) -> None:
        """SIGTERM the job, SIGKILL it after the grace period; a no-op once it has ended.

        Raises:
            JobFailed: A process of the job survived SIGKILL (uninterruptible sleep).
        """
        job_dir = self.job_dir(name)
        if not await asyncio.to_thread(self._begin_cancel, job_dir):
            return
        await asyncio.to_thread(self._signal_job, job_dir)
        if not await self._wait_stopped(job_dir, self.cancel_grace_seconds):
            # The agent first, so that the runner can still record how it ended.
            await asyncio.to_thread(self._kill_job, job_dir, include_runner=False)
            if not await self._wait_stopped(job_dir, _RECORD_WAIT_SECONDS):
                await asyncio.to_thread(self._kill_job, job_dir, include_runner=True)
                if not await self._wait_stopped(job_dir, _KILL_WAIT_SECONDS):
                    raise JobFailed(f"job {name}: processes survived SIGKILL")
        await asyncio.to_thread(self._record_cancel, job_dir)

    async def delete(self, name: str) -> None:
        """Cancel the job if running, then remove its directory."""
        await self.cancel(name)
        await asyncio.to_thread(self._remove, self.job_dir(name))

    async def list(self, labels: dict[str, str]) -> JobStatusList:
        """Jobs whose labels include all of ``labels``, oldest first."""
        return await asyncio.to_thread(self._list_sync, dict(labels))

    # ------------------------------------------------------------------ launch

    def _launch_sync(self, spec: JobSpec) -> bool:
        """Create or take over the job and start its runner; True if merely attached."""
        job_dir = self.job_dir(spec.name)
        lock_fd = self._create(spec, job_dir)
        if lock_fd is None:
            lock_fd = self._take_over_unstarted(job_dir)
            if lock_fd is None:
                return True
        try:
            self._start_runner(job_dir)
        finally:
            os.close(lock_fd)
        return False

    def _create(self, spec: JobSpec, job_dir: Path) -> int | None:
        """Build the job directory aside and rename it into place.

        Returns:
            The held ``launch.lock`` fd if this call created the job, None if it existed.
        """
        if os.path.lexists(job_dir):
            return None
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.jobs_dir))
        lock_fd: int | None = None
        created = False
        try:
            lock_fd = _lock(tmp / LAUNCH_LOCK, wait_seconds=0)
            write_atomic(tmp / REQUEST_FILE, spec.request_json.encode())
            write_json_atomic(
                tmp / SPEC_FILE,
                {
                    "name": spec.name,
                    "argv": list(spec.argv),
                    "labels": dict(spec.labels),
                    "env": dict(spec.env),
                    "created_at": now_utc().isoformat(),
                },
            )
            try:
                # Fails if the name exists (a non-empty directory): the other launch won.
                os.rename(tmp, job_dir)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    return None
                raise
            created = True
            return lock_fd
        finally:
            if not created:
                if lock_fd is not None:
                    os.close(lock_fd)
                shutil.rmtree(tmp, ignore_errors=True)

    def _take_over_unstarted(self, job_dir: Path) -> int | None:
        """Take ``launch.lock`` of a job nobody is starting and nobody has started.

        Returns:
            The held lock fd if this call should start a runner, else None (attach).
        """
        if _claimed_or_done(job_dir) or not (job_dir / SPEC_FILE).exists():
            return None
        try:
            lock_fd = _lock(job_dir / LAUNCH_LOCK, wait_seconds=_LOCK_RETRY_SECONDS)
        except (FileNotFoundError, BlockingIOError):
            return None  # deleted meanwhile, or another worker is launching it
        if _claimed_or_done(job_dir):
            os.close(lock_fd)
            return None
        # Restart the "starting" clock that status() reads.
        os.utime(job_dir / LAUNCH_LOCK)
        return lock_fd

    def _start_runner(self, job_dir: Path) -> None:
        """Start the runner in its own session and wait until it has claimed the job."""
        with open(job_dir / RUNNER_LOG, "ab") as runner_log:
            process = subprocess.Popen(
                [self.python, "-m", RUNNER_MODULE, str(job_dir)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=runner_log,
                cwd=job_dir,
                close_fds=True,
                # Detached: a worker stopped with Ctrl-C or killed with its process group
                # must not take the job down with it.
                start_new_session=True,
            )
        try:
            code = process.wait(timeout=self.start_timeout_seconds)
        except subprocess.TimeoutExpired:
            raise JobFailed(
                f"job {job_dir.name}: runner did not start within "
                f"{self.start_timeout_seconds:g} s; {_file_tail(job_dir / RUNNER_LOG, 10)}"
            ) from None
        if code != 0 and not _claimed_or_done(job_dir):
            raise JobFailed(
                f"job {job_dir.name}: runner failed to start (exit {code}): "
                f"{_file_tail(job_dir / RUNNER_LOG, 10) or 'no output'}"
            )

    # ------------------------------------------------------------------ status

    def _status_sync(self, name: str) -> JobStatus:
        job_dir = self.job_dir(name)
        spec = read_json(job_dir / SPEC_FILE)
        if spec is None:
            return _missing(name)
        labels = {str(k): str(v) for k, v in (spec.get("labels") or {}).items()}
        created_at = _parse_time(spec.get("created_at"))

        def running(message: str | None = None) -> JobStatus:
            return JobStatus(
                name=name,
                state=JobState.RUNNING,
                labels=labels,
                exit_code=None,
                message=message,
                report_json=None,
                progress_json=self._progress(job_dir),
                created_at=created_at,
                finished_at=None,
            )

        record = read_json(job_dir / EXIT_CODE_FILE)
        if record is None:
            runner = read_json(job_dir / RUNNER_PID_FILE)
            if runner is None:
                if _starting(job_dir):
                    return running("starting")
                return JobStatus(
                    name=name,
                    state=JobState.FAILED,
                    labels=labels,
                    exit_code=None,
                    message=(
                        "job never started: the worker launching it stopped before its "
                        "runner did; launch() again starts it"
                    ),
                    report_json=None,
                    progress_json=None,
                    created_at=created_at,
                    finished_at=None,
                )
            if identity_alive(runner):
                return running()
            child = read_json(job_dir / CHILD_PID_FILE)
            if identity_alive(child):
                # Not finished while any process of the job lives: a relaunch now could run
                # two agents against the same object key.
                pid = child.get("pid") if child else None
                return running(f"job runner vanished; the agent (pid {pid}) is still running")
            record = read_json(job_dir / EXIT_CODE_FILE)  # it may have just finished
            if record is None:
                record = _record_vanished(job_dir, runner)
        return self._finished(job_dir, name, labels, created_at, record)

    def _finished(
        self,
        job_dir: Path,
        name: str,
        labels: dict[str, str],
        created_at: datetime | None,
        record: dict[str, Any],
    ) -> JobStatus:
        raw_code = record.get("exit_code")
        exit_code = raw_code if isinstance(raw_code, int) else None
        finished_at = _parse_time(record.get("finished_at"))
        progress = self._progress(job_dir)
        if exit_code == EXIT_SUCCEEDED:
            return JobStatus(
                name=name,
                state=JobState.SUCCEEDED,
                labels=labels,
                exit_code=exit_code,
                message=None,
                report_json=_read_text(job_dir / REPORT_FILE),
                progress_json=progress,
                created_at=created_at,
                finished_at=finished_at,
            )
        reasons: list[str] = []
        record_reason = record.get("reason")
        if (job_dir / CANCELLED_MARKER).exists() and "cancelled" not in str(record_reason):
            reasons.append("cancelled")
        if record_reason:
            reasons.append(str(record_reason))
        error_json = _read_text(job_dir / ERROR_FILE, _ERROR_FILE_MAX_BYTES)
        message = failure_message(
            exit_code=exit_code,
            error_json=error_json,
            stderr_tail=self._stderr_tail(job_dir, FAILURE_TAIL_LINES),
            reason="; ".join(reasons) or None,
        )
        return JobStatus(
            name=name,
            state=JobState.FAILED,
            labels=labels,
            exit_code=exit_code,
            message=message,
            report_json=None,
            progress_json=progress,
            created_at=created_at,
            finished_at=finished_at,
            permanent=exit_code == EXIT_PERMANENT,
            error_type=error_file_type(error_json),
        )

    def _progress(self, job_dir: Path) -> str | None:
        return last_json_line(_read_tail(job_dir / STDOUT_LOG, _STDOUT_TAIL_BYTES))

    def _stderr_tail(self, job_dir: Path, count: int) -> str:
        max_bytes = min(_LOG_TAIL_MAX_BYTES, max(_STDOUT_TAIL_BYTES, count * 1024))
        return tail_lines(_read_tail(job_dir / STDERR_LOG, max_bytes), count)

    # ------------------------------------------------------------------ cancel / delete

    def _begin_cancel(self, job_dir: Path) -> bool:
        """Leave the ``cancelled`` marker; False if there is nothing to cancel.

        The marker is written before any pid is read: a runner that claims the job after
        that read checks the marker before starting the agent, so no agent starts unseen.
        """
        if not (job_dir / SPEC_FILE).exists() or (job_dir / EXIT_CODE_FILE).exists():
            return False
        write_atomic(job_dir / CANCELLED_MARKER, now_utc().isoformat().encode(), exclusive=True)
        return True

    def _signal_job(self, job_dir: Path) -> None:
        """SIGTERM the runner (it forwards to the agent), or the agent if the runner is gone."""
        runner = read_json(job_dir / RUNNER_PID_FILE)
        if runner and identity_alive(runner):
            _kill(runner["pid"], signal.SIGTERM)
            return
        child = read_json(job_dir / CHILD_PID_FILE)
        if child and identity_alive(child):
            _kill(child["pid"], signal.SIGTERM)

    def _kill_job(self, job_dir: Path, *, include_runner: bool) -> None:
        """SIGKILL the agent's process group (and the runner if asked)."""
        child = read_json(job_dir / CHILD_PID_FILE)
        if child and identity_alive(child):
            pid = int(child["pid"])
            # The agent leads its own group; kill the group only while that still holds.
            if proc_pgid(pid) == pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            else:
                _kill(pid, signal.SIGKILL)
        runner = read_json(job_dir / RUNNER_PID_FILE)
        if include_runner and runner and identity_alive(runner):
            _kill(runner["pid"], signal.SIGKILL)

    def _stopped(self, job_dir: Path) -> bool:
        if (job_dir / EXIT_CODE_FILE).exists() or not (job_dir / SPEC_FILE).exists():
            return True
        runner = read_json(job_dir / RUNNER_PID_FILE)
        if runner is None:
            return not _starting(job_dir)
        return not identity_alive(runner) and not identity_alive(
            read_json(job_dir / CHILD_PID_FILE)
        )

    async def _wait_stopped(self, job_dir: Path, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            if await asyncio.to_thread(self._stopped, job_dir):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_SECONDS)

    def _record_cancel(self, job_dir: Path) -> None:
        """Record the end of a cancelled job whose runner could not (it was killed)."""
        if not (job_dir / SPEC_FILE).exists() or (job_dir / EXIT_CODE_FILE).exists():
            return
        if (job_dir / RUNNER_PID_FILE).exists():
            reason = "cancelled; the job runner was killed before recording an exit status"
        else:
            reason = "cancelled before the agent started"
        write_json_atomic(
            job_dir / EXIT_CODE_FILE, exit_record(None, reason=reason), exclusive=True
        )

    def _remove(self, job_dir: Path) -> None:
        """Rename the directory aside (atomic: the name is free at once), then delete it."""
        aside = self.jobs_dir / f".trash-{job_dir.name}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(job_dir, aside)
        except FileNotFoundError:
            return
        shutil.rmtree(aside, ignore_errors=True)

    # ------------------------------------------------------------------ list

    def _list_sync(self, labels: dict[str, str]) -> JobStatusList:
        self._sweep()
        found: JobStatusList = []
        with os.scandir(self.jobs_dir) as entries:
            names = [e.name for e in entries if not e.name.startswith(".") and e.is_dir()]
        for name in names:
            try:
                job_dir = self.job_dir(name)
            except ValueError:
                continue  # not ours
            spec = read_json(job_dir / SPEC_FILE)
            job_labels = (spec or {}).get("labels") or {}
            if spec is None or any(job_labels.get(k) != v for k, v in labels.items()):
                continue
            status = self._status_sync(name)
            if status.state is not JobState.MISSING:
                found.append(status)
        far_future = datetime.max.replace(tzinfo=UTC)
        found.sort(key=lambda s: (s.created_at or far_future, s.name))
        return found

    def _sweep(self) -> None:
        """Remove what crashed launches and deletes left behind (hidden directories)."""
        cutoff = time.time() - _SWEEP_AFTER_SECONDS
        with os.scandir(self.jobs_dir) as entries:
            stale = [
                Path(e.path)
                for e in entries
                if e.name.startswith((".tmp-", ".trash-"))
                and e.stat(follow_symlinks=False).st_mtime < cutoff
            ]
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------- helpers


def _lock(path: Path, *, wait_seconds: float) -> int:
    """Open ``path`` (creating it) and take an exclusive flock, retrying for a while.

    Raises:
        BlockingIOError: Still held by someone else after ``wait_seconds``.
        FileNotFoundError: The directory is gone.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise
            time.sleep(0.02)


def _claimed_or_done(job_dir: Path) -> bool:
    return (job_dir / RUNNER_PID_FILE).exists() or (job_dir / EXIT_CODE_FILE).exists()


def _starting(job_dir: Path) -> bool:
    """Whether a launch attempt is recent enough that its runner may still be starting."""
    try:
        mtime = (job_dir / LAUNCH_LOCK).stat().st_mtime
    except FileNotFoundError:
        return False
    return time.time() - mtime < STARTING_GRACE_SECONDS


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


def _kill(pid: Any, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(int(pid), sig)


def _missing(name: str) -> JobStatus:
    return JobStatus(
        name=name,
        state=JobState.MISSING,
        labels={},
        exit_code=None,
        message=None,
        report_json=None,
        progress_json=None,
        created_at=None,
        finished_at=None,
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _read_text(path: Path, max_bytes: int | None = None) -> str | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read() if max_bytes is None else handle.read(max_bytes)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return data.decode(errors="replace")


def _read_tail(path: Path, max_bytes: int) -> str:
    """The last ``max_bytes`` of a log, starting at a line boundary ("" if absent)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(0, size - max_bytes)
            handle.seek(start)
            data = handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return ""
    if start > 0:
        data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
    return data.decode(errors="replace")


def _file_tail(path: Path, count: int) -> str:
    return tail_lines(_read_tail(path, _STDOUT_TAIL_BYTES), count).strip()
