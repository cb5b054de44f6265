"""wait_for_job, the one launch/poll/heartbeat/cancel loop, with the real LocalExecutor."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from fixtures.wait import eventually
from shardkeeper.activities.agent_job import wait_for_job
from shardkeeper.activities.executor.base import JobSpec, JobState
from shardkeeper.activities.executor.local import LocalExecutor
from shardkeeper.contracts.agent import AgentProgress
from shardkeeper.contracts.backup import AwaitBackupHeartbeat
from shardkeeper.errors import JobFailed

LABELS = {"shardkeeper.io/cluster": "demo"}


def _spec(name: str, code: str) -> JobSpec:
    return JobSpec(name=name, argv=[sys.executable, "-c", "import json, os, sys, time\n" + code],
                   request_json="{}", labels=LABELS)


def _beat(progress: AgentProgress) -> AwaitBackupHeartbeat:
    return AwaitBackupHeartbeat(job_name="j", state=progress.phase,
                                bytes_uploaded=progress.bytes_streamed)


FIRST = AwaitBackupHeartbeat(job_name="j", state="launching")
PROGRESS = "print(json.dumps({'phase': 'streaming', 'bytes_streamed': 7}), flush=True)\n"
WAIT_FOREVER = "time.sleep(300)\n"


async def test_launches_waits_and_hands_back_the_report(tmp_path: Path) -> None:
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *d: beats.append(d[0])
    code = (PROGRESS + "time.sleep(1.5)\n"
            "open(os.environ['SHARDKEEPER_REPORT_FILE'], 'w').write('{\"ok\": true}')\n")
    report = await env.run(wait_for_job, LocalExecutor(tmp_path), "j-ok", FIRST, _beat,
                           launch=_spec("j-ok", code))
    assert json.loads(report) == {"ok": True}
    assert beats[0]["state"] == "launching"
    # the final beat carries the agent's last progress, as the caller's details type
    assert (beats[-1]["state"], beats[-1]["bytes_uploaded"]) == ("streaming", 7)


async def test_success_without_a_report_is_job_failed(tmp_path: Path) -> None:
    with pytest.raises(JobFailed, match="without a report"):
        await ActivityEnvironment().run(wait_for_job, LocalExecutor(tmp_path), "j-empty",
                                        FIRST, _beat, launch=_spec("j-empty", "sys.exit(0)\n"))


async def test_a_vanished_job_is_job_failed(tmp_path: Path) -> None:
    with pytest.raises(JobFailed, match="does not exist"):
        await ActivityEnvironment().run(wait_for_job, LocalExecutor(tmp_path), "j-none",
                                        FIRST, _beat)


async def test_a_failed_job_is_job_failed_for_the_workflow(tmp_path: Path) -> None:
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(wait_for_job, LocalExecutor(tmp_path), "j-bad",
                                        FIRST, _beat, launch=_spec("j-bad", "sys.exit(1)\n"))
    assert (info.value.type, info.value.non_retryable) == ("JobFailed", True)


async def _cancel_while_running(tmp_path: Path, name: str, *, shutdown: bool) -> LocalExecutor:
    executor = LocalExecutor(tmp_path)
    env = ActivityEnvironment()

    async def progress_seen() -> None:
        # the job is surely running once it has printed progress
        await eventually(lambda: executor.status(name), 30, f"{name}'s progress",
                         until=lambda s: s.progress_json is not None)
        if shutdown:
            env.worker_shutdown()
        env.cancel()

    waiter = asyncio.create_task(progress_seen())
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(env.run(wait_for_job, executor, name, FIRST, _beat,
                                       launch=_spec(name, PROGRESS + WAIT_FOREVER)), 60)
    await waiter
    return executor


async def test_worker_shutdown_leaves_the_job_running(tmp_path: Path) -> None:
    executor = await _cancel_while_running(tmp_path, "j-shutdown", shutdown=True)
    try:
        assert (await executor.status("j-shutdown")).state == JobState.RUNNING
    finally:
        await executor.cancel("j-shutdown")


async def test_workflow_cancellation_stops_the_job(tmp_path: Path) -> None:
    executor = await _cancel_while_running(tmp_path, "j-cancel", shutdown=False)
    assert (await executor.status("j-cancel")).state == JobState.FAILED
