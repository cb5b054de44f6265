"""Child processes of the agent: started so they die with it, stopped politely, then firmly.

This module owns how the data path spawns the engine and the restore tools (mbstream,
mariadb-backup --prepare, the mariadb client): in the agent's environment plus the child's
additions, with a parent-death signal so that a SIGKILLed agent never leaves a
mariadb-backup streaming into a closed pipe, and stopped with SIGTERM then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from shardkeeper.processes import die_with_parent_hook

STOP_GRACE_SECONDS = 10.0


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
        # SIGKILL when the agent dies: it forks from its main thread, which lives exactly as
        # long as the process.
        preexec_fn=die_with_parent_hook(signal.SIGKILL),
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
