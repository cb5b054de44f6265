"""The README's first command: `shardkeeper up` brings the stack up and backs up the demo."""

from __future__ import annotations

import os
import shlex
import signal
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


@pytest.mark.timeout(600)
def test_a_second_terminal_uses_the_running_demo_with_only_what_up_printed(
    tmp_path: Path,
) -> None:
    """`make up` in one terminal; in another, the commands `up` printed, then a restore."""
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SHARDKEEPER_DEMO_", "TEMPORAL_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shardkeeper", "up", "--state-dir", str(state), "--rows", "200"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    printed: list[str] = []
    try:
        for line in proc.stderr:  # until up says it keeps running
            printed.append(line)
            if "running; Ctrl-C" in line:
                break
        else:
            raise AssertionError("up ended early:\n" + "".join(printed)[-4000:])
        source = next(line.split("source ", 1)[1].split()[0] for line in printed
                      if line.startswith("second terminal: source "))
        commands = [line.strip() for line in printed if line.startswith("  shardkeeper ")]
        assert len(commands) == 2, printed
        for command in commands:
            # a fresh shell: nothing of up's environment but what the sourced file holds
            second = subprocess.run(
                ["bash", "-c", f"source {source} && {command}"], cwd=tmp_path,
                capture_output=True, text=True, timeout=120,
                env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "200"})
            assert second.returncode == 0, (command, second.stderr[-3000:])
            assert "customer" in second.stdout and "80-" in second.stdout, second.stdout
        assert os.stat(source).st_mode & 0o077 == 0, "the credentials file is private"
        # a restore from the second terminal restarts two servers outside up's handles
        restore = subprocess.run(
            ["bash", "-c", f"source {source} && shardkeeper restore start --cluster demo "
             f"--shard customer/-80 -f {state}/cluster.yaml -f {state}/schedule.yaml "
             "--name from-terminal && shardkeeper describe restore from-terminal --watch"],
            cwd=tmp_path, capture_output=True, text=True, timeout=240,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "200"})
        assert restore.returncode == 0 and "Completed" in restore.stdout, restore.stderr[-3000:]
        # no server up started (nor the two the restore restarted) holds a secret of the demo
        secrets = _demo_secrets(Path(source))
        servers = [pid for pid in _descendants(proc.pid) if b"shardkeeper agent" not in
                   _read(pid, "cmdline").replace(b"\0", b" ")]
        names = {_read(pid, "comm").strip() for pid in servers}
        assert {b"temporal", b"weed", b"mariadbd"} <= names, names
        assert len(servers) >= 8, servers  # dev server, SeaweedFS, six mariadbd
        leaked = [(pid, _read(pid, "comm").strip()) for pid in servers
                  if any(value in _read(pid, "environ") for value in secrets)]
        assert leaked == [], f"processes with a demo secret in their environment: {leaked}"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        proc.stderr.close()
    # Ctrl-C stops everything up started, the servers the restore restarted included
    leftovers = subprocess.run(["pgrep", "-f", str(state)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", leftovers.stdout


def _read(pid: int, name: str) -> bytes:
    try:
        return (Path("/proc") / str(pid) / name).read_bytes()
    except OSError:  # it exited meanwhile
        return b""


def _descendants(root: int) -> list[int]:
    """Every live process below ``root`` (servers run in their own sessions, still children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _read(int(entry.name), "stat")
            if stat:
                ppid = int(stat.rsplit(b")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _demo_secrets(env_file: Path) -> list[bytes]:
    """The generated credentials ``up`` wrote for the second terminal."""
    values = []
    for line in env_file.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        if name.startswith("SHARDKEEPER_DEMO_"):
            values.append(shlex.split(value)[0].encode())
    assert len(values) == 3, values
    return values
