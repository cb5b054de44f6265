"""The fake API server's Job controller and kubelet: each Job's pod is a local process.

Per Job one thread does what the Job controller and the kubelet would: create a pod, resolve
its environment (``value``, ``secretKeyRef`` from the fake's Secret store; a missing Secret
leaves the pod Pending with ``CreateContainerConfigError``, as a kubelet does), lay out its
volumes (``emptyDir``, ``downwardAPI``) in a sandbox directory, run ``command + args`` with
stdout and stderr merged into the pod log, and record the outcome: the termination message
(the file at ``terminationMessagePath``, else the log tail under ``FallbackToLogsOnError``),
the exit code (128 + n for signal n), pod phase and Job conditions. It honours
``backoffLimit``, ``podFailurePolicy`` (FailJob on exit codes), ``activeDeadlineSeconds``
(``DeadlineExceeded``), ``suspend`` (pods terminated and removed) and deletion.

Container paths (mount paths, the termination-message path) exist only in the sandbox: the
fake maps them to sandbox paths in the container's environment variables, the one place the
agent contract puts paths.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from k8s.fake_api import FakeKubernetes

_TERMINATION_MAX = 4096
_FALLBACK_LINES, _FALLBACK_BYTES = 80, 2048
_TICK = 0.05


class _Stop(Exception):
    """The Job was deleted or suspended, or the controller stops."""


class JobController:
    """Runs every Job of a ``FakeKubernetes`` in its own thread.

    Args:
        fake: The server whose store holds the Jobs and pods.
        base_env: Environment each container starts with.
        max_grace_seconds: Cap on ``terminationGracePeriodSeconds`` (tests stay fast).
    """

    def __init__(self, fake: FakeKubernetes, base_env: dict[str, str],
                 max_grace_seconds: float = 5.0) -> None:
        self.fake = fake
        self.base_env = dict(base_env)
        self.max_grace_seconds = max_grace_seconds
        self._runs: dict[str, _JobRun] = {}
        self._stopping = threading.Event()
        self.logs: dict[tuple[str, str], Path] = {}

    def start(self) -> None:
        """Nothing to start: threads are per Job."""

    def stop(self) -> None:
        """Kill every container and wait for the Job threads."""
        self._stopping.set()
        for run in list(self._runs.values()):
            run.kill_now()
        for run in list(self._runs.values()):
            run.join(timeout=10)

    def adopt(self, job: dict[str, Any]) -> None:
        """Start running a newly created Job."""
        run = _JobRun(self, job["metadata"]["namespace"], job["metadata"]["name"],
                      job["metadata"]["uid"])
        self._runs[job["metadata"]["uid"]] = run
        run.start()

    def forget(self, job: dict[str, Any]) -> None:
        """A deleted Job: stop its pod (gracefully, in its thread) and remove its pods."""
        run = self._runs.get(job["metadata"]["uid"])
        if run is not None:
            run.deleted.set()
        uid = job["metadata"]["uid"]
        for pod in self.fake.list("pods", job["metadata"]["namespace"],
                                  f"batch.kubernetes.io/controller-uid={uid}"):
            if pod["status"].get("phase") not in ("Pending", "Running"):
                self.fake.remove("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])

    def log(self, namespace: str, pod: str, tail: int | None) -> str:
        """A pod's log (the last ``tail`` lines)."""
        from k8s.fake_api import ApiError

        if self.fake.get("pods", namespace, pod) is None:
            raise ApiError(404, "NotFound", f'pods "{pod}" not found')
        path = self.logs.get((namespace, pod))
        if path is None or not path.exists():
            raise ApiError(400, "BadRequest", f'container "agent" in pod "{pod}" is waiting '
                                              "to start: ContainerCreating")
        text = path.read_text(errors="replace")
        if tail is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail:])
        return text


class _JobRun(threading.Thread):
    def __init__(self, controller: JobController, namespace: str, name: str, uid: str) -> None:
        super().__init__(daemon=True, name=f"job-{name}")
        self.c = controller
        self.fake = controller.fake
        self.ns, self.name, self.uid = namespace, name, uid
        self.deleted = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None

    # ---------------------------------------------------------------- job state

    def job(self) -> dict[str, Any] | None:
        job = self.fake.get("jobs", self.ns, self.name)
        return job if job is not None and job["metadata"]["uid"] == self.uid else None

    def set_job_status(self, **changes: Any) -> None:
        def change(job: dict[str, Any]) -> None:
            job.setdefault("status", {}).update(changes)

        if self.job() is not None:
            self.fake.update("jobs", self.ns, self.name, change)

    def add_condition(self, kind: str, reason: str, message: str) -> None:
        from k8s.fake_api import now

        def change(job: dict[str, Any]) -> None:
            status = job.setdefault("status", {})
            conditions = [c for c in status.get("conditions", []) if c["type"] != kind]
            conditions.append({"type": kind, "status": "True", "reason": reason,
                               "message": message, "lastProbeTime": now(),
                               "lastTransitionTime": now()})
            status["conditions"] = conditions
            status["active"] = 0
            if kind == "Complete":
                status["completionTime"] = now()

        if self.job() is not None:
            self.fake.update("jobs", self.ns, self.name, change)

    def interrupted(self) -> str | None:
        """Why the running pod must stop now, if it must."""
        job = self.job()
        if self.deleted.is_set() or job is None or self.c._stopping.is_set():
            return "deleted"
        if (job.get("spec") or {}).get("suspend"):
            return "suspended"
        deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
        if deadline is not None and time.monotonic() - self.started > deadline:
            return "deadline"
        return None

    # ---------------------------------------------------------------- the loop

    def run(self) -> None:
        from k8s.fake_api import now

        self.started = time.monotonic()
        self.set_job_status(startTime=now(), active=0)
        failed = 0
        while True:
            why = self.interrupted()
            if why == "deleted":
                return
            if why == "suspended":
                self.add_condition("Suspended", "JobSuspended", "Job suspended")
                while self.interrupted() == "suspended":
                    time.sleep(_TICK)
                continue
            if why == "deadline":
                self.add_condition("Failed", "DeadlineExceeded",
                                   "Job was active longer than specified deadline")
                return
            job = self.job()
            assert job is not None
            backoff = job["spec"].get("backoffLimit", 6)
            if failed > backoff:
                self.add_condition("Failed", "BackoffLimitExceeded",
                                   "Job has reached the specified backoff limit")
                return
            outcome = self.run_pod(job)
            if outcome is None:
                continue  # suspended or deleted: decided at the top of the loop
            code, pod_reason = outcome
            if pod_reason == "DeadlineExceeded":
                continue
            if code == 0:
                self.set_job_status(succeeded=1, active=0)
                self.add_condition("Complete", "CompletionsReached", "Reached expected number "
                                   "of succeeded pods")
                return
            failed += 1
            self.set_job_status(failed=failed, active=0)
            if code in _fail_job_codes(job):
                self.add_condition("Failed", "PodFailurePolicy",
                                   f"Container agent for pod {self.ns}/{self.name} failed with "
                                   f"exit code {code} matching FailJob rule at index 0")
                return

    def run_pod(self, job: dict[str, Any]) -> tuple[int, str | None] | None:
        from k8s.fake_api import now

        template = job["spec"]["template"]
        spec = template["spec"]
        container = spec["containers"][0]
        pod_name = f"{self.name}-{secrets.token_hex(3)[:5]}"
        labels = {**(template.get("metadata") or {}).get("labels", {}),
                  "batch.kubernetes.io/controller-uid": self.uid, "controller-uid": self.uid,
                  "batch.kubernetes.io/job-name": self.name, "job-name": self.name}
        pod = self.fake.put("pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": self.ns, "labels": labels,
                         "annotations": dict((template.get("metadata") or {})
                                             .get("annotations", {})),
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                              "name": self.name, "uid": self.uid,
                                              "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": {**spec, "nodeName": "fake-node"},
            "status": {"phase": "Pending", "podIP": "127.0.0.1",
                       "containerStatuses": [_container_status(container, False, {
                           "waiting": {"reason": "ContainerCreating"}})]},
        })
        self.set_job_status(active=1)
        sandbox = self.fake.workdir / self.ns / pod_name
        sandbox.mkdir(parents=True)
        paths = _lay_out_volumes(pod, sandbox)
        termination = sandbox / "termination-log"
        termination.touch()
        paths[container.get("terminationMessagePath", "/dev/termination-log")] = termination
        env = self.resolve_env(pod_name, container, paths)
        if env is None:
            return None
        log = sandbox / "pod.log"
        self.c.logs[(self.ns, pod_name)] = log
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                argv, env=env, cwd=sandbox, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        started = now()
        self.set_pod(pod_name, "Running", {"running": {"startedAt": started}}, ready=True)
        grace = min(float(spec.get("terminationGracePeriodSeconds", 30)),
                    self.c.max_grace_seconds)
        reason: str | None = None
        while self.process.poll() is None:
            why = self.interrupted()
            if why is not None:
                reason = {"deadline": "DeadlineExceeded"}.get(why, why)
                self.terminate(grace)
                break
            time.sleep(_TICK)
        code = self.process.wait()
        code = 128 - code if code < 0 else code
        message = termination.read_bytes()[-_TERMINATION_MAX:].decode(errors="replace")
        if not message and code != 0 and (
                container.get("terminationMessagePolicy") == "FallbackToLogsOnError"):
            lines = log.read_bytes().splitlines(keepends=True)[-_FALLBACK_LINES:]
            message = b"".join(lines)[-_FALLBACK_BYTES:].decode(errors="replace")
        state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                "message": message or None, "startedAt": started,
                                "finishedAt": now()}}
        self.set_pod(pod_name, "Succeeded" if code == 0 else "Failed", state, ready=False,
                     reason=reason if reason == "DeadlineExceeded" else None)
        if reason in ("deleted", "suspended"):
            self.fake.remove("pods", self.ns, pod_name)
            return None
        return code, reason

    def resolve_env(self, pod_name: str, container: dict[str, Any],
                    paths: dict[str, Path]) -> dict[str, str] | None:
        """The container's environment, waiting while a referenced Secret is missing."""
        while True:
            env, missing = dict(self.c.base_env), None
            env["HOSTNAME"] = pod_name
            for var in container.get("env") or []:
                if "value" in var:
                    env[var["name"]] = _map_path(var["value"], paths)
                    continue
                ref = (var.get("valueFrom") or {}).get("secretKeyRef")
                if ref is None:
                    continue
                value = self.fake.secrets.get((self.ns, ref["name"]), {}).get(ref["key"])
                if value is None:
                    missing = f'secret "{ref["name"]}" not found or has no key "{ref["key"]}"'
                    break
                env[var["name"]] = value
            if missing is None:
                return env
            self.set_pod(pod_name, "Pending", {"waiting": {
                "reason": "CreateContainerConfigError", "message": missing}}, ready=False)
            if self.interrupted() is not None:
                self.fake.remove("pods", self.ns, pod_name)
                return None
            time.sleep(_TICK * 4)

    def set_pod(self, pod_name: str, phase: str, state: dict[str, Any], *, ready: bool,
                reason: str | None = None) -> None:
        def change(pod: dict[str, Any]) -> None:
            container = pod["spec"]["containers"][0]
            status = pod.setdefault("status", {})
            status["phase"] = phase
            status["containerStatuses"] = [_container_status(container, ready, state)]
            status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
            if reason:
                status["reason"] = reason

        self.fake.update("pods", self.ns, pod_name, change)

    def terminate(self, grace: float) -> None:
        """SIGTERM the container's process group, SIGKILL after ``grace`` seconds."""
        assert self.process is not None
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)

    def kill_now(self) -> None:
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _container_status(container: dict[str, Any], ready: bool,
                      state: dict[str, Any]) -> dict[str, Any]:
    return {"name": container["name"], "image": container.get("image", ""), "imageID": "",
            "ready": ready, "restartCount": 0, "started": "running" in state, "state": state}


def _fail_job_codes(job: dict[str, Any]) -> set[int]:
    codes: set[int] = set()
    for rule in ((job["spec"].get("podFailurePolicy") or {}).get("rules") or []):
        on = rule.get("onExitCodes") or {}
        if rule.get("action") == "FailJob" and on.get("operator") == "In":
            codes.update(on.get("values") or [])
    return codes


def _lay_out_volumes(pod: dict[str, Any], sandbox: Path) -> dict[str, Path]:
    """Create each volume's directory; return container mount path → sandbox path."""
    meta = pod["metadata"]
    dirs: dict[str, Path] = {}
    for volume in pod["spec"].get("volumes") or []:
        path = sandbox / "volumes" / volume["name"]
        path.mkdir(parents=True)
        dirs[volume["name"]] = path
        for item in (volume.get("downwardAPI") or {}).get("items") or []:
            field = item["fieldRef"]["fieldPath"]
            if field.startswith("metadata.annotations['"):
                value = (meta.get("annotations") or {}).get(field[22:-2], "")
            elif field.startswith("metadata.labels['"):
                value = (meta.get("labels") or {}).get(field[17:-2], "")
            else:
                value = str(meta.get(field.removeprefix("metadata."), ""))
            (path / item["path"]).write_text(value)
    paths: dict[str, Path] = {}
    for mount in pod["spec"]["containers"][0].get("volumeMounts") or []:
        paths[mount["mountPath"]] = dirs[mount["name"]]
    return paths


def _map_path(value: str, paths: dict[str, Path]) -> str:
    for container_path in sorted(paths, key=len, reverse=True):
        if value == container_path or value.startswith(container_path.rstrip("/") + "/"):
            return str(paths[container_path]) + value[len(container_path):]
    return value
