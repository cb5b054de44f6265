"""The agent process protocol: request file in; progress lines, report or error, exit code out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from dp_support import RequestFactory, ScriptRequest

from fixtures.wait import eventually_sync
from shardkeeper.contracts.agent import AgentBackupReport, AgentBackupRequest, AgentProgress
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.control.stack.seaweedfs import SeaweedFS

MiB = 1 << 20
HERE = Path(__file__).resolve().parent
# The child registers the scripted engine (when asked) and runs the agent body.
CHILD = """
import json, sys
from dp_support import ScriptEngine
from shardkeeper.datapath.engines import ENGINES
args = json.loads(sys.argv[1])
if args:
    ENGINES["script"] = lambda: ScriptEngine(**args)
from shardkeeper.datapath.agent import run_backup_job
sys.exit(run_backup_job())
"""


def _start(
    tmp_path: Path, request: AgentBackupRequest | bytes, engine_args: Mapping[str, object] | None
) -> tuple[subprocess.Popen[str], dict[str, Path]]:
    files = {name: tmp_path / f"{name}.json" for name in ("request", "report", "error")}
    body = request if isinstance(request, bytes) else request.model_dump_json().encode()
    files["request"].write_bytes(body)
    env = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "SHARDKEEPER_REQUEST_FILE": str(files["request"]),
        "SHARDKEEPER_REPORT_FILE": str(files["report"]),
        "SHARDKEEPER_ERROR_FILE": str(files["error"]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(engine_args or {})],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return proc, files


def _open_uploads(seaweed: SeaweedFS, bucket: str) -> int:
    return len(seaweed.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def _inherits(pid: str, marker: str) -> bool:
    try:
        return marker.encode() in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False


def _cmdlines_of(pid: str, marker: str) -> bool:
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _cmdlines(marker: str, also: bytes = b"") -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in raw and also in raw:
            found.append(raw.replace(b"\0", b" ").decode(errors="replace"))
    return found


def test_agent_backup_of_a_replica_writes_report_and_progress(
    make_request: RequestFactory,
    mariadb_cluster: MariaDBCluster,
    seaweed: SeaweedFS,
    tmp_path: Path,
) -> None:
    request = make_request(mariadb_cluster.replicas("customer", "80-")[0])
    proc, files = _start(tmp_path, request, None)
    cmdlines: list[str] = []
    while proc.poll() is None:  # samples the engine's argv while it runs: not a wait
        cmdlines += _cmdlines("mariadb-backup", b"--backup")
        time.sleep(0.02)
    stdout, stderr = proc.communicate()

    assert proc.returncode == 0, stderr[-3000:]
    report = AgentBackupReport.model_validate_json(files["report"].read_text())
    assert report.key == request.key and report.sha256
    progress = [AgentProgress.model_validate_json(line) for line in stdout.splitlines()]
    assert progress[0].phase == "starting" and progress[-1].phase == "uploaded"
    assert progress[-1].bytes_streamed == report.size_bytes
    assert not files["error"].exists()
    # The password reaches mariadb-backup only through the 0600 defaults file.
    assert cmdlines, "the engine process was never seen"
    for cmdline in cmdlines:
        assert mariadb_cluster.password not in cmdline
        assert "--defaults-extra-file=" in cmdline.split()[1]
    assert mariadb_cluster.password not in stderr and mariadb_cluster.password not in stdout
    assert '"event": "engine.output"' in stderr  # engine stderr became structured logs


def test_agent_sigterm_aborts_the_upload(
    script_request: ScriptRequest, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    request, _engine = script_request(stream_bytes=12 * MiB)
    engine_args = {"stream_bytes": 12 * MiB, "sleep_after_seconds": 60}
    proc, files = _start(tmp_path, request, engine_args)
    bucket = request.destination.bucket

    def uploading() -> int:
        assert proc.poll() is None, proc.communicate()
        return _open_uploads(seaweed, bucket)

    eventually_sync(uploading, 30, "the upload to start", interval=0.1)

    proc.send_signal(signal.SIGTERM)
    _stdout, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 1, stderr[-3000:]
    error = json.loads(files["error"].read_text())
    assert error["error_type"] == "JobFailed" and "SIGTERM" in error["message"]
    assert not files["report"].exists()
    assert _open_uploads(seaweed, bucket) == 0
    assert seaweed.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    # The engine was stopped too (only this test's: it inherited the request file path).
    assert [
        pid
        for pid in filter(str.isdigit, os.listdir("/proc"))
        if _inherits(pid, str(files["request"])) and _cmdlines_of(pid, "time.sleep(60")
    ] == []


def test_agent_engine_failure_is_temporary(
    script_request: ScriptRequest, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    request, _engine = script_request(stream_bytes=1)
    proc, files = _start(tmp_path, request, {"stream_bytes": 7 * MiB, "exit_code": 3})
    _stdout, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 1, stderr[-3000:]
    error = json.loads(files["error"].read_text())
    assert error["error_type"] == "EngineFailed" and "status 3" in error["message"]
    assert error["retryable"] is True
    assert not files["report"].exists()


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"cluster": "demo"}'], ids=["garbage", "incomplete"]
)
def test_agent_bad_request_is_permanent(tmp_path: Path, body: bytes) -> None:
    proc, files = _start(tmp_path, body, None)
    _stdout, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 2, stderr[-3000:]
    error = json.loads(files["error"].read_text())
    assert error["error_type"] == "SpecInvalid"
    assert error["retryable"] is False
