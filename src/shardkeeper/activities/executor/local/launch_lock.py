"""The launch lock: who is launching a job right now, and whether a launch is recent.

The launching worker holds ``flock(launch.lock)`` until the runner's claim is settled, and the
kernel drops that lock when the worker dies; the lock file's mtime is the last launch attempt.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Final

from shardkeeper.activities.executor.local_runner import (
    EXIT_CODE_FILE,
    LAUNCH_LOCK,
    RUNNER_PID_FILE,
)

# A job directory without runner.pid counts as "starting" this long after its last launch
# attempt, then as "never started" (launch() relaunches it). Generous, because a loaded host
# can take seconds to start a Python process; the launcher itself gives up much earlier.
STARTING_GRACE_SECONDS: Final = 30.0


def lock(path: Path, *, wait_seconds: float) -> int:
    """Open ``path`` (creating it) and take an exclusive flock, retrying for a while.

    Returns:
        The open, locked file descriptor; closing it releases the lock.

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


def claimed_or_done(job_dir: Path) -> bool:
    """Whether a runner has claimed the job, or its end has been recorded."""
    return (job_dir / RUNNER_PID_FILE).exists() or (job_dir / EXIT_CODE_FILE).exists()


def starting(job_dir: Path) -> bool:
    """Whether a launch attempt is recent enough that its runner may still be starting."""
    try:
        mtime = (job_dir / LAUNCH_LOCK).stat().st_mtime
    except FileNotFoundError:
        return False
    return time.time() - mtime < STARTING_GRACE_SECONDS
