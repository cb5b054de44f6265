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

The rest of the room: ``status`` (a job directory read into a ``JobStatus``), ``cancel``
(the steps that stop a job), ``launch_lock`` and ``tails``.

This room must not import temporalio: the activities that call it heartbeat.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from shardkeeper.activities.executor.base import (
    Executor,
    JobSpec,
    JobState,
    JobStatus,
    JobStatusList,
    validate_job_name,
)
from shardkeeper.activities.executor.local.cancel import (
    begin_cancel,
    kill_job,
    record_cancel,
    signal_job,
    stopped,
)
from shardkeeper.activities.executor.local.launch_lock import claimed_or_done, lock
from shardkeeper.activities.executor.local.status import job_status
from shardkeeper.activities.executor.local.tails import file_tail, stderr_tail
from shardkeeper.activities.executor.local_runner import (
    LAUNCH_LOCK,
    REQUEST_FILE,
    RUNNER_LOG,
    RUNNER_MODULE,
    SPEC_FILE,
    now_utc,
    read_json,
    write_atomic,
    write_json_atomic,
)
from shardkeeper.errors import JobUnreachable

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
            JobUnreachable: The runner could not start (the job stays relaunchable).
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
        return await asyncio.to_thread(stderr_tail, self.job_dir(name), tail_lines)

    async def cancel(self, name: str) -> None:
        """SIGTERM the job, SIGKILL it after the grace period; a no-op once it has ended.

        Raises:
            JobUnreachable: A process of the job survived SIGKILL (uninterruptible sleep).
        """
        job_dir = self.job_dir(name)
        if not await asyncio.to_thread(begin_cancel, job_dir):
            return
        await asyncio.to_thread(signal_job, job_dir)
        if not await self._wait_stopped(job_dir, self.cancel_grace_seconds):
            # The agent first, so that the runner can still record how it ended.
            await asyncio.to_thread(kill_job, job_dir, include_runner=False)
            if not await self._wait_stopped(job_dir, _RECORD_WAIT_SECONDS):
                await asyncio.to_thread(kill_job, job_dir, include_runner=True)
                if not await self._wait_stopped(job_dir, _KILL_WAIT_SECONDS):
                    raise JobUnreachable(f"job {name}: processes survived SIGKILL")
        await asyncio.to_thread(record_cancel, job_dir)

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
            lock_fd = lock(tmp / LAUNCH_LOCK, wait_seconds=0)
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
        if claimed_or_done(job_dir) or not (job_dir / SPEC_FILE).exists():
            return None
        try:
            lock_fd = lock(job_dir / LAUNCH_LOCK, wait_seconds=_LOCK_RETRY_SECONDS)
        except (FileNotFoundError, BlockingIOError):
            return None  # deleted meanwhile, or another worker is launching it
        if claimed_or_done(job_dir):
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
            raise JobUnreachable(
                f"job {job_dir.name}: runner did not start within "
                f"{self.start_timeout_seconds:g} s; {file_tail(job_dir / RUNNER_LOG, 10)}"
            ) from None
        if code != 0 and not claimed_or_done(job_dir):
            raise JobUnreachable(
                f"job {job_dir.name}: runner failed to start (exit {code}): "
                f"{file_tail(job_dir / RUNNER_LOG, 10) or 'no output'}"
            )

    # ------------------------------------------------------------------ status, delete, list

    def _status_sync(self, name: str) -> JobStatus:
        return job_status(self.job_dir(name), name)

    async def _wait_stopped(self, job_dir: Path, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            if await asyncio.to_thread(stopped, job_dir):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_SECONDS)

    def _remove(self, job_dir: Path) -> None:
        """Rename the directory aside (atomic: the name is free at once), then delete it."""
        aside = self.jobs_dir / f".trash-{job_dir.name}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(job_dir, aside)
        except FileNotFoundError:
            return
        shutil.rmtree(aside, ignore_errors=True)

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
