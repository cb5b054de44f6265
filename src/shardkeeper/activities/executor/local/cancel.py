"""Stopping a job's processes: the cancel marker, SIGTERM, SIGKILL, and the record of it.

These are the steps :meth:`LocalExecutor.cancel` takes, each a plain function of the job
directory, so that every step is decided from the directory and ``/proc`` alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Any

from shardkeeper.activities.executor.local.launch_lock import starting
from shardkeeper.activities.executor.local_runner import (
    CANCELLED_MARKER,
    CHILD_PID_FILE,
    EXIT_CODE_FILE,
    RUNNER_PID_FILE,
    SPEC_FILE,
    exit_record,
    now_utc,
    read_json,
    write_atomic,
    write_json_atomic,
)
from shardkeeper.activities.executor.procfs import identity_alive, proc_pgid


def begin_cancel(job_dir: Path) -> bool:
    """Leave the ``cancelled`` marker; False if there is nothing to cancel.

    The marker is written before any pid is read: a runner that claims the job after that
    read checks the marker before starting the agent, so no agent starts unseen.
    """
    if not (job_dir / SPEC_FILE).exists() or (job_dir / EXIT_CODE_FILE).exists():
        return False
    write_atomic(job_dir / CANCELLED_MARKER, now_utc().isoformat().encode(), exclusive=True)
    return True


def signal_job(job_dir: Path) -> None:
    """SIGTERM the runner (it forwards to the agent), or the agent if the runner is gone."""
    runner = read_json(job_dir / RUNNER_PID_FILE)
    if runner and identity_alive(runner):
        _kill(runner["pid"], signal.SIGTERM)
        return
    child = read_json(job_dir / CHILD_PID_FILE)
    if child and identity_alive(child):
        _kill(child["pid"], signal.SIGTERM)


def kill_job(job_dir: Path, *, include_runner: bool) -> None:
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


def stopped(job_dir: Path) -> bool:
    """Whether no process of the job runs any more (or it has ended, or is gone)."""
    if (job_dir / EXIT_CODE_FILE).exists() or not (job_dir / SPEC_FILE).exists():
        return True
    runner = read_json(job_dir / RUNNER_PID_FILE)
    if runner is None:
        return not starting(job_dir)
    return not identity_alive(runner) and not identity_alive(read_json(job_dir / CHILD_PID_FILE))


def record_cancel(job_dir: Path) -> None:
    """Record the end of a cancelled job whose runner could not (it was killed)."""
    if not (job_dir / SPEC_FILE).exists() or (job_dir / EXIT_CODE_FILE).exists():
        return
    if (job_dir / RUNNER_PID_FILE).exists():
        reason = "cancelled; the job runner was killed before recording an exit status"
    else:
        reason = "cancelled before the agent started"
    write_json_atomic(job_dir / EXIT_CODE_FILE, exit_record(None, reason=reason), exclusive=True)


def _kill(pid: Any, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(int(pid), sig)
