"""The parent-death hook: a child started with it does not outlive its parent."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.wait import eventually_sync
from shardkeeper.processes import die_with_parent_hook

# A parent that starts a long sleeper with the hook, says its pid and exits at once.
PARENT = """
import signal, subprocess, sys
from shardkeeper.processes import die_with_parent_hook
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)"],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
    preexec_fn=die_with_parent_hook(signal.SIG{sig}),
)
print(child.pid, flush=True)
"""


def _gone(pid: int) -> bool:
    """Whether ``pid`` has exited (absent, or a zombie nobody has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2] in "ZXx"


@pytest.mark.parametrize("sig", ["KILL", "TERM"])
def test_child_dies_with_its_parent(sig: str) -> None:
    parent = subprocess.run(
        [sys.executable, "-c", PARENT.format(sig=sig)],
        capture_output=True, text=True, timeout=30, check=True,
    )
    pid = int(parent.stdout.strip())
    eventually_sync(lambda: _gone(pid), timeout=10, what=f"child {pid} to die with its parent")


def test_hook_is_built_before_fork() -> None:
    hook = die_with_parent_hook(signal.SIGTERM)
    assert callable(hook)
