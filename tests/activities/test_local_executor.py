"""LocalExecutor against real processes: launch/attach, failures, restarts, cancel, pruning.

The "agent" is a small Python script driven by its request file, so each test also checks
the agent contract (request, report and error files, progress on stdout, exit codes).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.wait import eventually
from shardkeeper.activities.executor.base import JobSpec, JobState, JobStatus
from shardkeeper.activities.executor.local import LocalExecutor
from shardkeeper.activities.executor.local_runner import (
    CHILD_PID_FILE,
    LAUNCH_LOCK,
    REQUEST_FILE,
    RUNNER_PID_FILE,
    SPEC_FILE,
    read_json,
)
from shardkeeper.activities.executor.procfs import boot_id, proc_start_time

pytestmark = pytest.mark.timeout(60)

AGENT = r"""
import json, os, signal, subprocess, sys, time
env = os.environ
if env.get("COUNT_FILE"):
    with open(env["COUNT_FILE"], "a") as f:
        f.write(f"{os.getpid()}\n")
req = json.load(open(env["SHARDKEEPER_REQUEST_FILE"]))
mode = req["mode"]
if mode == "ignore_term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchild = subprocess.Popen(["sleep", "60"])
    with open(req["grandchild_file"], "w") as f:
        f.write(str(grandchild.pid))
for i in range(3):
    print(json.dumps({"phase": "streaming", "bytes_streamed": i}))
print("agent says hello", file=sys.stderr)
if mode == "succeed":
    while req.get("go_file") and not os.path.exists(req["go_file"]):
        time.sleep(0.02)
    with open(env["SHARDKEEPER_REPORT_FILE"], "w") as f:
        json.dump({"key": req["key"], "size_bytes": 42}, f)
    sys.exit(0)
if mode == "error":
    with open(env["SHARDKEEPER_ERROR_FILE"], "w") as f:
        json.dump({"error_type": req["error_type"], "message": req["message"]}, f)
    sys.exit(req["exit_code"])
if mode == "crash":
    print("Traceback: something exploded", file=sys.stderr)
    sys.exit(3)
time.sleep(60)  # "sleep" and "ignore_term"
"""


def spec(name: str, request: dict[str, Any], **labels: str) -> JobSpec:
    return JobSpec(
        name=name,
        argv=[sys.executable, "-c", AGENT],
        request_json=json.dumps(request),
        labels=labels or {"cluster": "c1"},
        env={"COUNT_FILE": request.get("count_file", "")},
    )


def pid_gone(pid: int) -> bool:
    """Exited (a zombie counts: init may be slow, or absent, to reap it)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return raw[raw.rfind(")") + 2] in "ZXx"


async def wait_finished(executor: LocalExecutor, name: str, timeout: float = 10.0) -> JobStatus:
    async def check() -> JobStatus | None:
        status = await executor.status(name)
        return status if status.finished else None

    result: JobStatus = await eventually(check, timeout, f"{name} to finish")
    return result


@pytest.fixture
async def executor(tmp_path: Path) -> AsyncIterator[LocalExecutor]:
    ex = LocalExecutor(tmp_path / "jobs", cancel_grace_seconds=1.0)
    yield ex
    for job in await ex.list({}):  # leave no process behind
        await ex.delete(job.name)


async def test_success_runs_then_reports(executor: LocalExecutor, tmp_path: Path) -> None:
    go = tmp_path / "go"
    job = spec("sk-ok", {"mode": "succeed", "key": "k/backup.xbstream", "go_file": str(go)})

    status, attached = await executor.launch(job)
    assert (status.state, attached) == (JobState.RUNNING, False)
    assert status.labels == {"cluster": "c1"} and status.created_at is not None
    running = await eventually(
        lambda: _progress_at(executor, "sk-ok", 2), what="the third progress line"
    )
    assert running.state is JobState.RUNNING

    # The request is private and never on a command line (ps shows argv).
    job_dir = executor.job_dir("sk-ok")
    assert stat.S_IMODE((job_dir / REQUEST_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(job_dir.stat().st_mode) == 0o700
    for pid_file in (RUNNER_PID_FILE, CHILD_PID_FILE):
        identity = read_json(job_dir / pid_file)
        assert identity is not None
        cmdline = Path(f"/proc/{identity['pid']}/cmdline").read_bytes()
        assert b"k/backup.xbstream" not in cmdline

    go.touch()
    done = await wait_finished(executor, "sk-ok")
    assert done.state is JobState.SUCCEEDED and done.exit_code == 0 and done.message is None
    assert json.loads(done.report_json or "") == {"key": "k/backup.xbstream", "size_bytes": 42}
    assert json.loads(done.progress_json or "") == {"phase": "streaming", "bytes_streamed": 2}
    assert done.finished_at is not None and done.created_at is not None
    assert done.finished_at >= done.created_at
    assert "agent says hello" in await executor.logs("sk-ok")


async def _progress_at(executor: LocalExecutor, name: str, step: int) -> JobStatus | None:
    status = await executor.status(name)
    progress = json.loads(status.progress_json) if status.progress_json else {}
    return status if progress.get("bytes_streamed") == step else None


async def test_concurrent_launches_start_one_process(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    count = tmp_path / "runs"
    go = tmp_path / "go"
    request = {"mode": "succeed", "key": "k", "go_file": str(go), "count_file": str(count)}
    job = spec("sk-once", request)
    other_worker = LocalExecutor(executor.jobs_dir)

    results = await asyncio.gather(*(ex.launch(job) for ex in [executor, other_worker] * 4))
    assert sorted(attached for _, attached in results) == [False] + [True] * 7
    assert all(status.state is JobState.RUNNING for status, _ in results)
    assert (await executor.launch(job))[1] is True

    go.touch()
    assert (await wait_finished(executor, "sk-once")).state is JobState.SUCCEEDED
    # Launching a finished job attaches to it; it never runs again.
    status, attached = await executor.launch(job)
    assert (status.state, attached) == (JobState.SUCCEEDED, True)
    assert len(count.read_text().splitlines()) == 1


async def test_restarted_worker_attaches_and_sees_the_end(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    job = spec("sk-restart", {"mode": "succeed", "key": "k", "go_file": str(go)})
    await executor.launch(job)
    del executor  # the worker goes away; its job does not

    restarted = LocalExecutor(tmp_path / "jobs")
    status, attached = await restarted.launch(job)
    assert (status.state, attached) == (JobState.RUNNING, True)
    go.touch()
    assert (await wait_finished(restarted, "sk-restart")).state is JobState.SUCCEEDED


LAUNCHING_WORKER = """
import asyncio, json, sys, time
from pathlib import Path
from shardkeeper.activities.executor.base import JobSpec
from shardkeeper.activities.executor.local import LocalExecutor
asyncio.run(LocalExecutor(Path(sys.argv[1])).launch(JobSpec(**json.loads(sys.argv[2]))))
print("launched", flush=True)
time.sleep(60)
"""


async def test_job_survives_its_worker_being_killed(tmp_path: Path) -> None:
    """kill -9 of the worker's whole process group leaves the job running and findable."""
    go = tmp_path / "go"
    job = spec("sk-orphan", {"mode": "succeed", "key": "k", "go_file": str(go)})
    jobs_dir = tmp_path / "jobs"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LAUNCHING_WORKER,
            str(jobs_dir),
            json.dumps(dataclasses.asdict(job)),
        ],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert worker.stdout is not None
    assert await asyncio.to_thread(worker.stdout.readline) == b"launched\n"
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    worker.stdout.close()

    executor = LocalExecutor(jobs_dir)
    status, attached = await executor.launch(job)
    assert (status.state, attached) == (JobState.RUNNING, True)
    go.touch()
    assert (await wait_finished(executor, "sk-orphan")).state is JobState.SUCCEEDED


@pytest.mark.parametrize(("exit_code", "permanent"), [(1, False), (2, True)])
async def test_failure_reports_the_error_file(
    executor: LocalExecutor, exit_code: int, permanent: bool
) -> None:
    request = {
        "mode": "error",
        "exit_code": exit_code,
        "error_type": "AccessDenied" if permanent else "EndpointUnavailable",
        "message": "the object store said no",
    }
    await executor.launch(spec("sk-fail", request))
    done = await wait_finished(executor, "sk-fail")
    assert done.state is JobState.FAILED and done.exit_code == exit_code
    assert done.permanent is permanent
    assert done.error_type == request["error_type"]
    assert done.message == f"{request['error_type']}: the object store said no"
    assert done.report_json is None


async def test_failure_without_error_file_quotes_stderr(executor: LocalExecutor) -> None:
    await executor.launch(spec("sk-crash", {"mode": "crash"}))
    done = await wait_finished(executor, "sk-crash")
    assert done.state is JobState.FAILED and done.exit_code == 3 and not done.permanent
    assert done.message is not None
    assert "exited with code 3" in done.message and "something exploded" in done.message


async def test_unexecutable_agent_fails(executor: LocalExecutor) -> None:
    job = JobSpec(name="sk-noexec", argv=["/nonexistent/agent"], request_json="{}", labels={})
    await executor.launch(job)
    done = await wait_finished(executor, "sk-noexec")
    assert done.state is JobState.FAILED and done.exit_code == 127
    assert "cannot execute" in (done.message or "")


async def test_runner_killed_is_reported_vanished(executor: LocalExecutor) -> None:
    await executor.launch(spec("sk-vanish", {"mode": "sleep"}))
    job_dir = executor.job_dir("sk-vanish")
    child = await eventually(lambda: read_json(job_dir / CHILD_PID_FILE), what="the agent")
    runner = read_json(job_dir / RUNNER_PID_FILE)
    assert runner is not None

    os.kill(runner["pid"], signal.SIGKILL)
    done = await wait_finished(executor, "sk-vanish")
    assert done.state is JobState.FAILED and done.exit_code is None
    assert "job runner vanished" in (done.message or "")
    # The agent does not outlive its runner (PR_SET_PDEATHSIG).
    await eventually(lambda: pid_gone(child["pid"]), what="the orphaned agent to exit")


@pytest.mark.parametrize("start_time_matches", [False, True])
async def test_recycled_pid_is_not_trusted(
    executor: LocalExecutor, start_time_matches: bool
) -> None:
    """A runner.pid naming a live process counts only if its start time matches too."""
    unrelated = subprocess.Popen(["sleep", "30"])
    try:
        job_dir = executor.job_dir("sk-recycled")
        job_dir.mkdir(mode=0o700)
        (job_dir / SPEC_FILE).write_text(
            json.dumps({"name": "sk-recycled", "argv": ["true"], "labels": {}, "env": {}})
        )
        start = proc_start_time(unrelated.pid)
        assert start is not None
        identity = {
            "pid": unrelated.pid,
            "start_time": start if start_time_matches else start + 1,
            "boot_id": boot_id(),
        }
        (job_dir / RUNNER_PID_FILE).write_text(json.dumps(identity))

        status = await executor.status("sk-recycled")
        if start_time_matches:
            assert status.state is JobState.RUNNING
        else:
            assert status.state is JobState.FAILED
            assert "vanished" in (status.message or "")
            await executor.cancel("sk-recycled")
            await executor.delete("sk-recycled")
            assert unrelated.poll() is None  # never signalled
    finally:
        unrelated.kill()
        unrelated.wait()


async def test_cancel_stops_a_sleeping_job(executor: LocalExecutor) -> None:
    await executor.launch(spec("sk-cancel", {"mode": "sleep"}))
    job_dir = executor.job_dir("sk-cancel")
    child = await eventually(lambda: read_json(job_dir / CHILD_PID_FILE), what="the agent")

    started = time.monotonic()
    await executor.cancel("sk-cancel")
    assert time.monotonic() - started < 1.0  # SIGTERM was enough, no grace period used
    status = await executor.status("sk-cancel")
    assert status.state is JobState.FAILED and status.exit_code == 128 + signal.SIGTERM
    assert (status.message or "").startswith("cancelled")
    assert pid_gone(child["pid"])
    await executor.cancel("sk-cancel")  # idempotent
    assert (await executor.status("sk-cancel")).exit_code == 128 + signal.SIGTERM


async def test_cancel_escalates_to_sigkill_and_kills_the_group(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    grandchild_file = tmp_path / "grandchild"
    request = {"mode": "ignore_term", "grandchild_file": str(grandchild_file)}
    await executor.launch(spec("sk-stubborn", request))
    grandchild = int(await eventually(lambda: _text(grandchild_file), what="the grandchild"))
    # The agent has printed its progress once it has installed SIG_IGN.
    await eventually(lambda: _progress_at(executor, "sk-stubborn", 2), what="progress")

    await executor.cancel("sk-stubborn")
    status = await executor.status("sk-stubborn")
    assert status.state is JobState.FAILED and status.exit_code == 128 + signal.SIGKILL
    assert "SIGKILL" in (status.message or "") and "cancelled" in (status.message or "")
    await eventually(lambda: pid_gone(grandchild), what="the grandchild to die")


def _text(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


async def test_delete_cancels_and_removes(executor: LocalExecutor) -> None:
    await executor.launch(spec("sk-delete", {"mode": "sleep"}))
    job_dir = executor.job_dir("sk-delete")
    child = await eventually(lambda: read_json(job_dir / CHILD_PID_FILE), what="the agent")

    await executor.delete("sk-delete")
    assert not job_dir.exists()
    assert pid_gone(child["pid"])
    assert (await executor.status("sk-delete")).state is JobState.MISSING
    await executor.delete("sk-delete")  # idempotent
    assert await executor.logs("sk-delete") == ""


async def test_list_filters_by_labels_oldest_first(executor: LocalExecutor) -> None:
    for name, shard in [("sk-a", "-80"), ("sk-b", "80-"), ("sk-c", "-80")]:
        await executor.launch(spec(name, {"mode": "crash"}, cluster="c1", shard=shard))
    other = spec("sk-d", {"mode": "crash"}, cluster="c2", shard="-80")
    await executor.launch(other)

    assert [s.name for s in await executor.list({"cluster": "c1", "shard": "-80"})] == [
        "sk-a",
        "sk-c",
    ]
    assert [s.name for s in await executor.list({})] == ["sk-a", "sk-b", "sk-c", "sk-d"]
    assert await executor.list({"cluster": "nope"}) == []


async def test_half_created_job_is_relaunched_once(executor: LocalExecutor, tmp_path: Path) -> None:
    """A worker died after creating the directory but before its runner claimed the job."""
    count = tmp_path / "runs"
    job = spec("sk-half", {"mode": "succeed", "key": "k", "count_file": str(count)})
    job_dir = executor.job_dir("sk-half")
    lock_fd = executor._create(job, job_dir)  # the first half of launch() …
    assert lock_fd is not None
    os.close(lock_fd)  # … and the worker's death, which releases launch.lock

    assert (await executor.status("sk-half")).message == "starting"
    old = time.time() - 120
    os.utime(job_dir / LAUNCH_LOCK, (old, old))
    never = await executor.status("sk-half")
    assert never.state is JobState.FAILED and "never started" in (never.message or "")

    results = await asyncio.gather(*(executor.launch(job) for _ in range(4)))
    assert sorted(attached for _, attached in results) == [False, True, True, True]
    assert (await wait_finished(executor, "sk-half")).state is JobState.SUCCEEDED
    assert len(count.read_text().splitlines()) == 1


async def test_names_must_be_dns_labels(executor: LocalExecutor) -> None:
    with pytest.raises(ValueError, match="DNS-1123"):
        spec("../escape", {"mode": "sleep"})
    with pytest.raises(ValueError, match="DNS-1123"):
        await executor.status("../escape")
