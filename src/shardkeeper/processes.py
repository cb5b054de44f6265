"""Child processes: the one parent-death pre-exec hook, and the environment servers get.

Every process shardkeeper starts (the stack's servers, the local runner's agent, the agent's
engine and restore tools) must not outlive the process that started it, even when that one is
SIGKILLed. On Linux the kernel can send a signal to a child when its parent dies
(``prctl(PR_SET_PDEATHSIG)``); this module owns that hook. It is the bottom layer: it imports
nothing from shardkeeper (and never temporalio), so every layer may use it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from typing import Final

_PR_SET_PDEATHSIG: Final = 1

# What a server needs from its parent's environment to run: where programs are, its home,
# locale, time zone and temp dir. Everything else (S3 keys, database passwords, API keys the
# parent holds for its own work) stays with the parent: /proc/PID/environ of a server shows
# none of them.
_SERVER_ENV: Final = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
})


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parent's environment reduced to what a server process needs, plus ``extra``.

    For processes that hold no secret of ours: the stack's servers, and a database server a
    restore starts again. An agent needs the credentials its request references and keeps
    the full environment.
    """
    env = {k: v for k, v in os.environ.items() if k in _SERVER_ENV or k.startswith("LC_")}
    env.update(extra or {})
    return env


def die_with_parent_hook(signum: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``signum`` when its parent dies (Linux).

    The kernel sends the signal when the *thread* that forked the child ends, not the process:
    callers fork from a thread that lives as long as the process they mean. ``prctl`` is looked
    up here, before ``fork()``, so the child does no dynamic loading. If the parent already died
    between ``fork()`` and ``prctl()`` no signal would come, so the hook sends it itself.

    Args:
        signum: The signal the child gets, e.g. SIGKILL for a server, SIGTERM for an agent
            that should stop its own children first.

    Returns:
        The hook, or None where ``prctl`` is unavailable (not Linux).
    """
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signum)

    return arm
