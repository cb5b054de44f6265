"""Child processes of the agent: started so they die with it, stopped politely, then firmly.

This module owns how the data path spawns the engine and the restore tools (mbstream,
mariadb-backup --prepare, the mariadb client): in the agent's environment plus the child's
additions, with a parent-death signal so that a SIGKILLed agent never leaves a
mariadb-backup streaming into a closed pipe, and stopped with SIGTERM then SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

STOP_GRACE_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec hook: the child gets SIGKILL when the thread that forked it dies (Linux).

    The agent forks from its main thread, which lives exactly as long as the process.
    """
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return arm


def child_env(extra: Mapping[str, str]) -> dict[str, str] | None:
    """The agent's environment plus a child's additions (None: inherit unchanged)."""
    if not extra:
        return None
    return {**os.environ, **extra}


def spawn(
    argv: list[str],
    *,
    stdin: int | IO[bytes] | None = subprocess.DEVNULL,
    stdout: int | IO[bytes] | None = subprocess.PIPE,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stderr piped (for :class:`EngineLog`) and the parent-death signal."""
    return subprocess.Popen(
        argv,
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        bufsize=0,
        env=child_env(env or {}),
        cwd=cwd,
        preexec_fn=_die_with_parent(),
    )


def stop(proc: subprocess.Popen[bytes], grace_seconds: float = STOP_GRACE_SECONDS) -> None:
    """Terminate ``proc`` if it still runs, then kill it after ``grace_seconds``."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
