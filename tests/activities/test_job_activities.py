"""launch_backup / await_backup / prune_jobs with the real LocalExecutor and real processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from fixtures.wait import eventually
from shardkeeper.activities.executor.base import JobSpec, JobState
from shardkeeper.activities.executor.local import LocalExecutor
from shardkeeper.activities.jobs import JobActivities
from shardkeeper.contracts.agent import AgentBackupRequest
from shardkeeper.contracts.backup import (
    AwaitBackupInput,
    LaunchBackupInput,
    PruneJobsInput,
)
from shardkeeper.contracts.common import (
    DatabaseCredentials,
    ExecutorConfig,
    Instance,
    Role,
    S3Location,
)

LABELS = {"shardkeeper.io/cluster": "demo", "shardkeeper.io/shard": "-80"}
REPORT = {
    "key": "k", "size_bytes": 3, "sha256": "ab" * 32, "parts": 1, "engine": "mariabackup",
    "started_at": "2026-11-22T02:00:00Z", "finished_at": "2026-11-22T02:00:01Z",
}


def _script(exit_code: int, report: bool) -> list[str]:
    code = (
        "import json, os, sys\n"
        "print(json.dumps({'phase': 'streaming', 'bytes_streamed': 7}), flush=True)\n"
    )
    if report:
        code += f"open(os.environ['SHARDKEEPER_REPORT_FILE'], 'w').write({json.dumps(REPORT)!r})\n"
    else:
        code += ("open(os.environ['SHARDKEEPER_ERROR_FILE'], 'w').write(json.dumps("
                 "{'error_type': 'AccessDenied', 'message': 'S3 refused the key'}))\n")
    code += f"sys.exit({exit_code})\n"
    return [sys.executable, "-c", code]


def _request() -> AgentBackupRequest:
    return AgentBackupRequest(
        cluster="demo", keyspace="customer", shard="-80", backup_id="20261122T020000Z",
        source=Instance(name="r", role=Role.REPLICA, host="127.0.0.1", port=1),
        credentials=DatabaseCredentials(), destination=S3Location(bucket="bucket"), key="k",
    )


async def test_launch_twice_attaches_and_await_returns_the_report(
    tmp_path: Path,
) -> None:
    acts = JobActivities(tmp_path, agent_argv=_script(0, True))
    env = ActivityEnvironment()
    inp = LaunchBackupInput(job_name="sk-a-1", executor=ExecutorConfig(), request=_request(),
                            labels=LABELS)
    first = await env.run(acts.launch_backup, inp)
    second = await env.run(acts.launch_backup, inp)
    assert (first.attached, second.attached) == (False, True)
    done = await env.run(acts.await_backup, AwaitBackupInput(job_name="sk-a-1",
                                                             executor=ExecutorConfig()))
    assert done.report.sha256 == REPORT["sha256"]
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1


async def test_permanent_agent_failure_keeps_its_type(
    tmp_path: Path,
) -> None:
    acts = JobActivities(tmp_path, agent_argv=_script(2, False))
    env = ActivityEnvironment()
    await env.run(acts.launch_backup, LaunchBackupInput(
        job_name="sk-b-1", executor=ExecutorConfig(), request=_request(), labels=LABELS))
    with pytest.raises(ApplicationError) as info:
        await env.run(acts.await_backup, AwaitBackupInput(job_name="sk-b-1",
                                                          executor=ExecutorConfig()))
    assert info.value.type == "AccessDenied" and info.value.non_retryable
    assert "S3 refused the key" in info.value.message


async def test_temporary_agent_failure_is_job_failed(
    tmp_path: Path,
) -> None:
    acts = JobActivities(tmp_path, agent_argv=_script(1, False))
    env = ActivityEnvironment()
    await env.run(acts.launch_backup, LaunchBackupInput(
        job_name="sk-c-1", executor=ExecutorConfig(), request=_request(), labels=LABELS))
    with pytest.raises(ApplicationError) as info:
        await env.run(acts.await_backup, AwaitBackupInput(job_name="sk-c-1",
                                                          executor=ExecutorConfig()))
    assert info.value.type == "JobFailed"


async def test_prune_jobs_keeps_the_newest_per_state(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path)
    for i in range(5):
        await executor.launch(JobSpec(name=f"ok-{i}", argv=_script(0, True), request_json="{}",
                                      labels=LABELS))
        await _wait(executor, f"ok-{i}")
    for i in range(3):
        await executor.launch(JobSpec(name=f"bad-{i}", argv=_script(1, False),
                                      request_json="{}", labels=LABELS))
        await _wait(executor, f"bad-{i}")
    await executor.launch(JobSpec(name="other", argv=_script(0, True), request_json="{}",
                                  labels={**LABELS, "shardkeeper.io/shard": "80-"}))
    result = await ActivityEnvironment().run(JobActivities(tmp_path).prune_jobs, PruneJobsInput(
        executor=ExecutorConfig(), labels=LABELS, successful_jobs_history_limit=3,
        failed_jobs_history_limit=1))
    assert sorted(result.removed) == ["bad-0", "bad-1", "ok-0", "ok-1"]
    left = sorted(p.name for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert left == ["bad-2", "ok-2", "ok-3", "ok-4", "other"]


async def _wait(executor: LocalExecutor, name: str) -> None:
    await eventually(lambda: executor.status(name), what=f"{name} to finish",
                     until=lambda s: s.state != JobState.RUNNING)


def _sleeper(seconds: float) -> list[str]:
    code = (
        "import json, os, sys, time\n"
        f"time.sleep({seconds})\n"
        f"open(os.environ['SHARDKEEPER_REPORT_FILE'], 'w').write({json.dumps(REPORT)!r})\n"
    )
    return [sys.executable, "-c", code]


async def test_job_over_its_timeout_is_stopped_and_reported(tmp_path: Path) -> None:
    """jobTimeout counts from the job's real start; the job is cancelled, the error permanent."""
    from shardkeeper.errors import JobTimedOut

    acts = JobActivities(tmp_path, agent_argv=_sleeper(30))
    env = ActivityEnvironment()
    await env.run(acts.launch_backup, LaunchBackupInput(
        job_name="sk-slow-1", executor=ExecutorConfig(), request=_request(), labels=LABELS))
    with pytest.raises(JobTimedOut, match="over its timeout of 2s"):
        await env.run(acts.await_backup, AwaitBackupInput(
            job_name="sk-slow-1", executor=ExecutorConfig(), job_timeout_seconds=2))
    status = await LocalExecutor(tmp_path).status("sk-slow-1")
    assert status.state == JobState.FAILED, "the job was stopped, not left running"


async def test_slow_job_under_its_timeout_completes(tmp_path: Path) -> None:
    acts = JobActivities(tmp_path, agent_argv=_sleeper(2))
    env = ActivityEnvironment()
    await env.run(acts.launch_backup, LaunchBackupInput(
        job_name="sk-slowok-1", executor=ExecutorConfig(), request=_request(), labels=LABELS))
    done = await env.run(acts.await_backup, AwaitBackupInput(
        job_name="sk-slowok-1", executor=ExecutorConfig(), job_timeout_seconds=30))
    assert done.report.size_bytes == REPORT["size_bytes"]
