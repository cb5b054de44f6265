"""Faults at the boundaries: a flaky S3 server, and an agent killed with SIGKILL mid-stream.

The flaky server is a real SeaweedFS behind an HTTP proxy that answers 503 to chosen
UploadPart requests; the killed agent is a real ``run_backup_job`` process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dp_support import ScriptRequest
from faulty_proxy import FaultyProxy, fail_upload_part

from fixtures.wait import eventually_sync
from shardkeeper.contracts.common import FilesystemLocation, S3Location
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.backup.run import run_backup
from shardkeeper.datapath.stores import catalog, retention, verify
from shardkeeper.datapath.stores.filesystem import PARTIAL_SUFFIX

MiB = 1 << 20
HERE = Path(__file__).resolve().parent
CHILD = """
import json, sys
from dp_support import ScriptEngine
from shardkeeper.datapath.engines import ENGINES
args = json.loads(sys.argv[1])
ENGINES["script"] = lambda: ScriptEngine(**args)
from shardkeeper.datapath.agent import run_backup_job
sys.exit(run_backup_job())
"""


def test_a_part_failing_twice_is_retried_and_the_hash_is_right(
    script_request: ScriptRequest, s3_location: S3Location, seaweed: SeaweedFS
) -> None:
    rule, seen = fail_upload_part(part_number=2, times=2)
    proxy = FaultyProxy(seaweed.endpoint, rule).start()
    try:
        request, engine = script_request(stream_bytes=17 * MiB)
        flaky = s3_location.model_copy(update={"endpoint": proxy.endpoint})
        request = request.model_copy(update={"destination": flaky})

        report = run_backup(request, lambda _p: None)
    finally:
        proxy.stop()

    assert proxy.failed == 2 and seen[0] == 3  # two 503s, then the part went through
    assert report.parts == 4 and report.sha256 == engine.expected_sha256()
    assert verify.object_digest(s3_location, report.key) == (report.sha256, 17 * MiB)


def _kill_mid_stream(
    tmp_path: Path, request_json: str, started: object, timeout: float = 30.0
) -> None:
    files = {name: tmp_path / f"{name}.json" for name in ("request", "report", "error")}
    files["request"].write_text(request_json)
    env = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "SHARDKEEPER_REQUEST_FILE": str(files["request"]),
        "SHARDKEEPER_REPORT_FILE": str(files["report"]),
        "SHARDKEEPER_ERROR_FILE": str(files["error"]),
    }
    args = {"stream_bytes": 12 * MiB, "sleep_after_seconds": 60}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )

    def streaming() -> object:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        return started()  # type: ignore[operator]

    eventually_sync(streaming, timeout, "the upload to start", interval=0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert not files["report"].exists() and not files["error"].exists()
    # The engine dies with the agent (parent-death signal), it does not stream on.
    eventually_sync(lambda: not _engines_alive(str(files["request"])), 10,
                    "the engine to die with the agent", interval=0.1)


def _engines_alive(marker: str) -> bool:
    """Whether a child of this test's agent still runs (it inherited the request path)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"time.sleep(60" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            if marker.encode() in Path(f"/proc/{pid}/environ").read_bytes():
                return True
        except OSError:
            continue
    return False


def _prune_later(location: S3Location | FilesystemLocation) -> int:
    """The cleanup step, run as if two days had passed (past every grace period)."""
    _deleted, aborted = retention.prune_backups(
        location, "demo", "ks", "-", keep_last=None, retention_days=7,
        now=datetime.now(UTC) + timedelta(days=2), garbage_grace_seconds=0,
    )
    return aborted


def test_sigkill_on_s3_leaves_no_backup_and_no_upload_after_cleanup(
    script_request: ScriptRequest, s3_location: S3Location, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    request, _engine = script_request(stream_bytes=12 * MiB)
    client = seaweed.client()

    def uploads() -> int:
        found = client.list_multipart_uploads(Bucket=s3_location.bucket).get("Uploads", [])
        return len(found)

    _kill_mid_stream(tmp_path, request.model_dump_json(), lambda: uploads() > 0)

    assert catalog.list_backups(s3_location) == []
    assert uploads() == 1  # the killed agent could not abort: the cleanup step must
    assert _prune_later(s3_location) == 1
    assert uploads() == 0
    assert client.list_objects_v2(Bucket=s3_location.bucket).get("KeyCount", 0) == 0


def test_sigkill_on_a_filesystem_leaves_no_backup_after_cleanup(
    script_request: ScriptRequest, fs_location: FilesystemLocation, tmp_path: Path
) -> None:
    request, _engine = script_request(stream_bytes=12 * MiB)
    request = request.model_copy(
        update={"destination": fs_location, "key": request.key}
    )
    root = Path(fs_location.path)

    def partials() -> list[Path]:
        return [p for p in root.rglob(f"*{PARTIAL_SUFFIX}")] if root.exists() else []

    _kill_mid_stream(tmp_path, request.model_dump_json(), lambda: bool(partials()))

    assert catalog.list_backups(fs_location) == []
    assert not (root / request.key).exists()  # never under its final name
    assert _prune_later(fs_location) == 1
    assert partials() == []


@pytest.mark.parametrize("kind", ["s3", "fs"])
def test_filesystem_and_s3_commit_protocol_agree(
    kind: str,
    script_request: ScriptRequest,
    s3_location: S3Location,
    fs_location: FilesystemLocation,
) -> None:
    location = s3_location if kind == "s3" else fs_location
    request, engine = script_request(stream_bytes=11 * MiB)
    request = request.model_copy(update={"destination": location})

    report = run_backup(request, lambda _p: None)

    assert report.sha256 == engine.expected_sha256() and report.size_bytes == 11 * MiB
    assert verify.object_digest(location, report.key) == (report.sha256, 11 * MiB)
    assert catalog.list_backups(location) == []  # no metadata.json: not a backup yet
