"""Only exit 0 *and* the success line make an object; every other ending aborts the upload.

A scripted engine produces the failure shapes on demand (several parts already uploaded,
then a failure); the object store is a real SeaweedFS.
"""

from __future__ import annotations

import hashlib

import pytest
from dp_support import ScriptRequest

from shardkeeper.contracts.agent import AgentProgress
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.backup.run import run_backup
from shardkeeper.errors import EngineFailed

MiB = 1 << 20


def _state(seaweed: SeaweedFS, bucket: str) -> tuple[list[str], int]:
    client = seaweed.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return keys, len(uploads)


@pytest.mark.parametrize(
    ("exit_code", "success_line"),
    [(1, False), (0, False), (1, True)],
    ids=["exit1-no-line", "exit0-no-line", "exit1-with-line"],
)
def test_failure_after_several_parts_leaves_nothing(
    script_request: ScriptRequest, seaweed: SeaweedFS, exit_code: int, success_line: bool
) -> None:
    # 23 MiB at 5 MiB parts: four parts are on the wire before the engine's verdict.
    request, _engine = script_request(
        stream_bytes=23 * MiB, exit_code=exit_code, success_line=success_line
    )

    with pytest.raises(EngineFailed, match=f"status {exit_code}") as caught:
        run_backup(request, lambda _p: None)

    assert "streaming finished" in str(caught.value)  # the bounded stderr tail
    assert _state(seaweed, request.destination.bucket) == ([], 0)


def test_exact_multiple_of_the_part_size(
    script_request: ScriptRequest, seaweed: SeaweedFS
) -> None:
    request, engine = script_request(stream_bytes=15 * MiB)

    report = run_backup(request, lambda _p: None)

    assert (report.size_bytes, report.parts) == (15 * MiB, 3)
    assert report.sha256 == engine.expected_sha256()
    body = seaweed.client().get_object(Bucket=request.destination.bucket, Key=request.key)
    assert hashlib.sha256(body["Body"].read()).hexdigest() == report.sha256


def test_progress_is_throttled_and_final(
    script_request: ScriptRequest, seaweed: SeaweedFS
) -> None:
    request, engine = script_request(stream_bytes=12 * MiB + 7, sleep_after_seconds=2.5)
    seen: list[AgentProgress] = []

    report = run_backup(request, seen.append)

    assert report.sha256 == engine.expected_sha256()
    # ~1/s during a ~2.5 s run plus the final one; never one per read.
    assert 1 <= len(seen) <= 6
    assert seen[-1].bytes_streamed == 12 * MiB + 7
    assert all(p.phase == "streaming" and p.at is not None for p in seen)


def test_keyboard_interrupt_aborts_the_upload(
    script_request: ScriptRequest, seaweed: SeaweedFS
) -> None:
    request, _engine = script_request(stream_bytes=11 * MiB, sleep_after_seconds=30)
    calls = 0

    def interrupt(progress: AgentProgress) -> None:
        nonlocal calls
        calls += 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_backup(request, interrupt)

    assert calls == 1
    assert _state(seaweed, request.destination.bucket) == ([], 0)
