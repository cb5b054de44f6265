"""The README's first command: `shardkeeper up` brings the stack up and backs up the demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_up_once_backs_up_every_demo_shard_and_stops_everything(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.run(
        [sys.executable, "-m", "shardkeeper", "up", "--once", "--state-dir", str(state),
         "--rows", "200"],
        cwd=REPO, capture_output=True, text=True, timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = [line for line in proc.stdout.splitlines() if "│" in line and "KEYSPACE" not in line]
    assert {tuple(c.strip() for c in r.split("│")[1:3]) for r in rows} == {
        ("commerce", "-"), ("customer", "-80"), ("customer", "80-")}
    assert "Web UI:" in proc.stderr and "ShardkeeperSchedule" in proc.stderr
    # everything `up` started is gone: no process still points at its state directory
    leftovers = subprocess.run(["pgrep", "-f", str(state)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", leftovers.stdout
