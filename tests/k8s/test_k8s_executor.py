"""KubernetesExecutor through the real client against the fake API server, real processes."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import config as k8s_config
from temporalio.testing import ActivityEnvironment

from fixtures.wait import eventually
from k8s.fake_api import FakeKubernetes, now
from shardkeeper.activities.executor.base import JobSpec, JobState, JobStatus
from shardkeeper.activities.executor.kubernetes import KubernetesApi, KubernetesExecutor
from shardkeeper.activities.executor.render import label_value
from shardkeeper.activities.jobs import JobActivities
from shardkeeper.contracts.backup import PruneJobsInput
from shardkeeper.contracts.common import ExecutorConfig, KubernetesAccess, SecretKeyRef
from shardkeeper.errors import AccessDenied, EndpointUnavailable, JobRejected

LABELS = {"shardkeeper.io/cluster": "demo", "shardkeeper.io/shard": "-80"}
REPORT = {"key": "k", "size_bytes": 3}


def _config(kubeconfig: Path, **kw: object) -> ExecutorConfig:
    return ExecutorConfig(kind="kubernetes", access=KubernetesAccess(kubeconfig=str(kubeconfig)),
                          namespace="backups", image="shardkeeper:test", **kw)  # type: ignore[arg-type]


def _agent(*, exit_code: int = 0, sleep: float = 0.0, wait_for: Path | None = None,
           error: bool = False, stderr: str = "") -> list[str]:
    """A stand-in agent honouring the contract: progress on stdout, report or error file."""
    code = (
        "import json, os, sys, time, pathlib\n"
        "print(json.dumps({'phase': 'streaming', 'bytes_streamed': 7}), flush=True)\n"
        "print(json.dumps({'event': 'a log line', 'level': 'info'}), file=sys.stderr)\n"
    )
    if wait_for is not None:
        code += f"while not pathlib.Path({str(wait_for)!r}).exists(): time.sleep(0.05)\n"
    code += f"time.sleep({sleep})\n"
    if stderr:
        code += f"print({stderr!r}, file=sys.stderr, flush=True)\n"
    if exit_code == 0:
        code += f"open(os.environ['SHARDKEEPER_REPORT_FILE'], 'w').write({json.dumps(REPORT)!r})\n"
    elif error:
        code += ("open(os.environ['SHARDKEEPER_ERROR_FILE'], 'w').write(json.dumps("
                 "{'error_type': 'AccessDenied', 'message': 'S3 refused the key'}))\n")
    code += f"sys.exit({exit_code})\n"
    return [sys.executable, "-c", code]


def _spec(name: str, argv: list[str], labels: dict[str, str] | None = None,
          request: str = "{}") -> JobSpec:
    return JobSpec(name=name, argv=argv, request_json=request, labels=labels or LABELS)


async def _wait(executor: KubernetesExecutor, name: str, timeout: float = 30) -> JobStatus:
    return await eventually(lambda: executor.status(name), timeout, f"{name} to finish",
                            until=lambda s: s.finished, interval=0.1)


async def test_a_job_runs_and_reports_through_the_termination_message(
    fake_k8s: FakeKubernetes, kubeconfig: Path
) -> None:
    executor = KubernetesExecutor(_config(kubeconfig))
    status, attached = await executor.launch(_spec("sk-ok", _agent(sleep=0.5)))
    assert not attached and status.state == JobState.RUNNING
    done = await _wait(executor, "sk-ok")
    assert done.state == JobState.SUCCEEDED, done.message
    assert json.loads(done.report_json or "") == REPORT
    assert json.loads(done.progress_json or "")["phase"] == "streaming", "not the log line"
    assert done.labels == LABELS, "raw label values come back, not the encoded ones"
    job = fake_k8s.get("jobs", "backups", "sk-ok")
    assert job is not None
    assert job["metadata"]["labels"]["shardkeeper.io/shard"] == label_value("-80") != "-80"
    assert "a log line" in await executor.logs("sk-ok")


async def test_a_retried_launch_attaches_instead_of_creating_a_second_job(
    fake_k8s: FakeKubernetes, kubeconfig: Path
) -> None:
    spec = _spec("sk-twice", _agent(sleep=1))
    first = KubernetesExecutor(_config(kubeconfig))
    second = KubernetesExecutor(_config(kubeconfig))
    results = await asyncio.gather(first.launch(spec), second.launch(spec), first.launch(spec))
    assert sorted(attached for _, attached in results) == [False, True, True]
    assert len(fake_k8s.list("jobs", "backups")) == 1
    assert [m for m, p in fake_k8s.requests if m == "POST"].count("POST") == 3
    assert (await _wait(first, "sk-twice")).state == JobState.SUCCEEDED
    assert len(fake_k8s.list("pods", "backups")) == 1, "one pod ever ran"


async def test_a_restarted_worker_resumes_waiting(
    fake_k8s: FakeKubernetes, kubeconfig: Path, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    old = KubernetesExecutor(_config(kubeconfig))
    await old.launch(_spec("sk-restart", _agent(wait_for=go)))
    await eventually(functools.partial(old.status, "sk-restart"), what="sk-restart's progress",
                     until=lambda s: s.progress_json, interval=0.1)
    assert (await old.status("sk-restart")).state == JobState.RUNNING
    del old  # the worker "restarts": a new process has a new client and no memory
    client = k8s_config.new_client_from_config(config_file=str(kubeconfig))
    new = KubernetesExecutor(_config(kubeconfig), KubernetesApi(client))
    running = await new.status("sk-restart")
    assert running.state == JobState.RUNNING and running.progress_json
    go.touch()
    done = await _wait(new, "sk-restart")
    assert done.state == JobState.SUCCEEDED and json.loads(done.report_json or "") == REPORT


async def test_a_job_over_its_deadline_is_reported(
    fake_k8s: FakeKubernetes, kubeconfig: Path
) -> None:
    executor = KubernetesExecutor(_config(kubeconfig, active_deadline_seconds=1))
    await executor.launch(_spec("sk-slow", _agent(sleep=60)))
    done = await _wait(executor, "sk-slow")
    assert done.state == JobState.FAILED
    assert done.message and "DeadlineExceeded" in done.message
    assert done.permanent and done.error_type == "JobTimedOut"
    assert done.exit_code == 143, "the pod got SIGTERM"


async def test_a_failed_pod_surfaces_the_agent_error_file(
    fake_k8s: FakeKubernetes, kubeconfig: Path
) -> None:
    executor = KubernetesExecutor(_config(kubeconfig))
    await executor.launch(_spec("sk-denied", _agent(exit_code=2, error=True)))
    done = await _wait(executor, "sk-denied")
    assert done.state == JobState.FAILED and done.exit_code == 2
    assert done.permanent and done.error_type == "AccessDenied"
    assert done.message and "AccessDenied: S3 refused the key" in done.message


async def test_a_crashed_pod_surfaces_its_last_log_lines(
    fake_k8s: FakeKubernetes, kubeconfig: Path
) -> None:
    executor = KubernetesExecutor(_config(kubeconfig, backoff_limit=1))
    await executor.launch(_spec("sk-crash", _agent(exit_code=1, stderr="Traceback: boom")))
    done = await _wait(executor, "sk-crash")
    assert done.state == JobState.FAILED and not done.permanent
    assert done.message and "Traceback: boom" in done.message
    assert "BackoffLimitExceeded" in done.message
    assert len(fake_k8s.list("pods", "backups")) == 2, "backoffLimit 1: one retry"


async def test_cancel_stops_the_pod_and_keeps_the_job_as_failed(
    fake_k8s: FakeKubernetes, kubeconfig: Path
) -> None:
    executor = KubernetesExecutor(_config(kubeconfig))
    await executor.launch(_spec("sk-cancel", _agent(sleep=60)))
    await eventually(lambda: executor.status("sk-cancel"), what="sk-cancel's progress",
                     until=lambda s: s.progress_json, interval=0.1)
    await executor.cancel("sk-cancel")
    status = await executor.status("sk-cancel")
    assert status.state == JobState.FAILED and "cancelled" in (status.message or "")
    assert fake_k8s.list("pods", "backups") == [], "the suspended Job's pod is gone"
    await executor.cancel("sk-cancel")  # idempotent
    await executor.delete("sk-cancel")
    await executor.delete("sk-cancel")
    assert (await executor.status("sk-cancel")).state == JobState.MISSING


async def test_secrets_reach_the_pod_only_by_reference(
    fake_k8s: FakeKubernetes, kubeconfig: Path
) -> None:
    """``{secret: …}`` in the request and ``secretEnv`` both resolve through the kubelet."""
    secret = "s3cr3t-value-" + "x" * 16
    digest = hashlib.sha256(secret.encode()).hexdigest()  # argv must not hold the secret
    check = (
        "import hashlib, json, os, sys\n"
        "h = lambda v: hashlib.sha256(v.encode()).hexdigest()\n"
        "req = json.load(open(os.environ['SHARDKEEPER_REQUEST_FILE']))\n"
        "var = req['credentials']['password']['env']\n"
        f"assert h(os.environ[var]) == {digest!r}, 'secret ref'\n"
        f"assert h(os.environ['DB_PASSWORD']) == {digest!r}, 'secretEnv'\n"
        "open(os.environ['SHARDKEEPER_REPORT_FILE'], 'w').write('{}')\n"
    )
    request = json.dumps({"credentials": {"password": {
        "env": None, "file": None, "secret": {"name": "db", "key": "password"}}}})
    config = _config(kubeconfig, secret_env={"DB_PASSWORD": SecretKeyRef(name="db",
                                                                          key="password")})
    executor = KubernetesExecutor(config)
    await executor.launch(_spec("sk-secret", [sys.executable, "-c", check], request=request))
    waiting = await eventually(
        lambda: executor.status("sk-secret"), what="sk-secret to wait for its Secret",
        until=lambda s: "CreateContainerConfigError" in (s.message or ""), interval=0.1)
    assert waiting.state == JobState.RUNNING
    assert "CreateContainerConfigError" in (waiting.message or "")
    fake_k8s.secrets[("backups", "db")] = {"password": secret}
    done = await _wait(executor, "sk-secret")
    assert done.state == JobState.SUCCEEDED, done.message
    job_text = json.dumps(fake_k8s.get("jobs", "backups", "sk-secret"))
    assert secret not in job_text and "secretKeyRef" in job_text


async def test_history_limits_are_applied_through_list_and_delete(
    fake_k8s: FakeKubernetes, kubeconfig: Path
) -> None:
    config = _config(kubeconfig)
    executor = KubernetesExecutor(config)
    for name, argv in [("ok-0", _agent()), ("bad-0", _agent(exit_code=1)), ("ok-1", _agent()),
                       ("bad-1", _agent(exit_code=1)), ("ok-2", _agent())]:
        await executor.launch(_spec(name, argv))
        await _wait(executor, name)
        # creationTimestamp has one-second resolution: the next Job must be created later
        created = fake_k8s.get("jobs", "backups", name)["metadata"]["creationTimestamp"]
        await eventually(now, what="the clock to pass the creationTimestamp",
                         until=lambda t, c=created: t > c)
    other = {**LABELS, "shardkeeper.io/shard": "80-"}
    await executor.launch(_spec("other", _agent(), labels=other))
    await _wait(executor, "other")
    listed = await executor.list(LABELS)
    assert [s.name for s in listed] == ["ok-0", "bad-0", "ok-1", "bad-1", "ok-2"]
    result = await ActivityEnvironment().run(JobActivities(Path("/nonexistent")).prune_jobs,
                                             PruneJobsInput(executor=config, labels=LABELS,
                                                            successful_jobs_history_limit=2,
                                                            failed_jobs_history_limit=1))
    assert sorted(result.removed) == ["bad-0", "ok-0"]
    left = sorted(j["metadata"]["name"] for j in fake_k8s.list("jobs", "backups"))
    assert left == ["bad-1", "ok-1", "ok-2", "other"]
    assert [s.name for s in await executor.list(other)] == ["other"]


@pytest.mark.parametrize(("status", "error"), [
    (403, AccessDenied), (422, JobRejected), (503, EndpointUnavailable),
])
async def test_api_errors_are_classified_by_status(
    fake_k8s: FakeKubernetes, kubeconfig: Path, status: int, error: type[Exception]
) -> None:
    fake_k8s.faults[("POST", "jobs")] = status
    with pytest.raises(error, match=f"HTTP {status}"):
        await KubernetesExecutor(_config(kubeconfig)).launch(_spec("sk-err", _agent()))


async def test_a_wrong_token_is_access_denied(tmp_path: Path) -> None:
    fake = FakeKubernetes(tmp_path / "pods", token="right").start()
    try:
        fake.token = None
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        fake.token = "right"
        with pytest.raises(AccessDenied, match="HTTP 401"):
            await KubernetesExecutor(_config(kubeconfig)).status("sk-any")
    finally:
        fake.stop()


async def test_an_unreachable_api_server_is_endpoint_unavailable(tmp_path: Path) -> None:
    fake = FakeKubernetes(tmp_path / "pods")
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")  # never started
    fake.stop()
    with pytest.raises(EndpointUnavailable):
        await KubernetesExecutor(_config(kubeconfig)).status("sk-any")


async def test_kubectl_lists_the_jobs_the_executor_made(
    fake_k8s: FakeKubernetes, kubeconfig: Path
) -> None:
    executor = KubernetesExecutor(_config(kubeconfig))
    await executor.launch(_spec("sk-kubectl-a", _agent()))
    await executor.launch(_spec("sk-kubectl-b", _agent(),
                                labels={**LABELS, "shardkeeper.io/shard": "80-"}))
    selector = f"shardkeeper.io/shard={label_value('-80')}"
    out = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "-n", "backups", "get", "jobs", "-l",
         selector, "-o", "name"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["job.batch/sk-kubectl-a"]
    table = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "-n", "backups", "get", "jobs", "-l",
         "app.kubernetes.io/managed-by=shardkeeper"], capture_output=True, text=True,
        timeout=60)
    assert table.returncode == 0, table.stderr
    assert "sk-kubectl-a" in table.stdout and "sk-kubectl-b" in table.stdout
