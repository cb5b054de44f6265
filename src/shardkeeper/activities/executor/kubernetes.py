"""KubernetesExecutor: agent jobs as ``batch/v1`` Jobs; the one module that calls the API.

Everything the executor knows about a job comes from the API server (the Job, its pods, the
pod log), so a restarted worker, or another worker, sees the same job: ``status`` is
stateless. What each piece of the agent contract becomes in a pod is described in
``render.py``.

Decisions:

- **Launch** is ``create``; 409 AlreadyExists means another attempt created it: attach.
  An existing Job is never changed.
- **Cancel** sets ``spec.suspend`` (and a ``cancelled`` annotation) instead of deleting the
  Job: the Job controller terminates the pod gracefully (SIGTERM, then SIGKILL after
  ``terminationGracePeriodSeconds``: the agent aborts its multipart upload), the Job stays
  for inspection and for history pruning as a failed job, as a cancelled local job does.
  Lowering ``activeDeadlineSeconds`` would stop it as well but reads as a real timeout
  (``DeadlineExceeded``).
- **Delete** uses ``propagationPolicy: Background``: the name is free at once (a
  ``Foreground`` delete keeps the Job visible until its pods are gone, and a launch in that
  window would attach to a dying Job); the garbage collector removes the pods.
- **Errors** are classified by HTTP status, never by message: 401/403 → ``AccessDenied``,
  400/422 → ``JobRejected`` (permanent), 404 → missing, 409 → attach, 429/5xx and
  connection failures → ``EndpointUnavailable``.

The Kubernetes client is synchronous; every call runs in a thread (``asyncio.to_thread``)
with a request timeout, so the event loop never blocks on the API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from shardkeeper.activities.executor.base import (
    EXIT_PERMANENT,
    EXIT_SUCCEEDED,
    FAILURE_TAIL_LINES,
    Executor,
    JobSpec,
    JobState,
    JobStatus,
    JobStatusList,
    error_file_type,
    failure_message,
    last_json_line,
    tail_lines,
    validate_job_name,
)
from shardkeeper.activities.executor.render import (
    CONTAINER,
    GRACE_SECONDS,
    label_selector,
    raw_labels,
    render_job,
)
from shardkeeper.contracts.common import ExecutorConfig, KubernetesAccess
from shardkeeper.errors import (
    AccessDenied,
    EndpointUnavailable,
    JobFailed,
    JobRejected,
    ShardkeeperError,
)

CANCELLED_ANNOTATION: Final = "shardkeeper.io/cancelled-at"
CONTROLLER_UID_LABEL: Final = "batch.kubernetes.io/controller-uid"
# (connect, read) seconds for every API call: a hung API server must not hang a thread.
REQUEST_TIMEOUT: Final = (5.0, 30.0)
# Progress is the last "phase" line of the pod log; the agent prints one about every second
# and logs a few lines in between, so this many lines always hold one.
_PROGRESS_TAIL_LINES: Final = 200
_POLL_SECONDS: Final = 0.2
_T = TypeVar("_T")
# ``list`` is a method name of the executor; this alias keeps annotations unambiguous.
Objects = list[Any]


# ---------------------------------------------------------------------- API access


_clients: dict[tuple[str | None, str | None, bool], k8s.ApiClient] = {}
_clients_lock = threading.Lock()


def api_client(access: KubernetesAccess) -> k8s.ApiClient:
    """An API client for ``access``, shared by every caller with the same settings.

    Raises:
        JobRejected: No usable configuration (no kubeconfig, not in a pod).
    """
    key = (access.kubeconfig, access.context, access.in_cluster)
    with _clients_lock:
        cached = _clients.get(key)
        if cached is not None:
            return cached
        try:
            created = _new_client(access)
        except (ConfigException, OSError) as exc:
            raise JobRejected(f"no usable Kubernetes configuration: {exc}") from None
        _clients[key] = created
        return created


def _new_client(access: KubernetesAccess) -> k8s.ApiClient:
    if access.in_cluster or access.kubeconfig is None:
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
            return k8s.ApiClient(configuration)
        except ConfigException:
            if access.in_cluster:
                raise
    created: k8s.ApiClient = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=access.kubeconfig, context=access.context, persist_config=False
    )
    return created


def _status_message(body: Any) -> str:
    """The ``message`` of a ``kind: Status`` error body, else the body itself (bounded)."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])
    return text[:500]


def classify(exc: ApiException, what: str) -> ShardkeeperError:
    """The domain error for an API error, chosen by HTTP status.

    Args:
        exc: The client's exception.
        what: What was being done (``create Job x``), for the message.
    """
    status = int(exc.status or 0)
    message = f"Kubernetes API: {what}: HTTP {status}: {_status_message(exc.body)}"
    if status in (401, 403):
        return AccessDenied(message)
    if status in (400, 404, 422):
        return JobRejected(message)
    if status == 429 or status >= 500 or status == 0:
        retry_after = None
        headers: Any = exc.headers or {}
        with contextlib.suppress(TypeError, ValueError):
            retry_after = float(headers.get("Retry-After"))
        return EndpointUnavailable(message, retry_after_seconds=retry_after)
    return JobFailed(message)


class KubernetesApi:
    """The API calls shardkeeper makes, with errors classified; blocking (run in a thread).

    Args:
        client: An API client (see ``api_client``).
    """

    def __init__(self, client: k8s.ApiClient) -> None:
        self.client = client
        self.batch = k8s.BatchV1Api(client)
        self.core = k8s.CoreV1Api(client)
        self.apps = k8s.AppsV1Api(client)

    def call(
        self, what: str, fn: Callable[..., _T], *args: Any, missing_ok: bool = False, **kw: Any
    ) -> _T | None:
        """Run one API call; None for 404 when ``missing_ok``.

        Raises:
            ShardkeeperError: See ``classify``; connection failures are EndpointUnavailable.
        """
        try:
            return fn(*args, _request_timeout=REQUEST_TIMEOUT, **kw)
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            raise classify(exc, what) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise EndpointUnavailable(
                f"Kubernetes API: {what}: {type(exc).__name__}: {exc}"
            ) from None

    def job(self, namespace: str, name: str) -> Any:
        """The Job, or None."""
        return self.call(
            f"get Job {namespace}/{name}", self.batch.read_namespaced_job, name, namespace,
            missing_ok=True,
        )

    def pods(self, namespace: str, selector: str) -> Objects:
        """Pods matching a label selector, oldest first."""
        found: Any = self.call(
            f"list pods {selector}", self.core.list_namespaced_pod, namespace,
            label_selector=selector,
        )
        items: Objects = list(found.items or []) if found is not None else []
        items.sort(key=lambda p: (_created(p.metadata), p.metadata.name))
        return items

    def pod_log(self, namespace: str, pod: str, lines: int) -> str:
        """The last ``lines`` lines of the agent container's log ("" if none yet)."""
        try:
            text = self.call(
                f"read log of pod {pod}", self.core.read_namespaced_pod_log, pod, namespace,
                container=CONTAINER, tail_lines=lines, missing_ok=True,
            )
        except JobRejected:
            return ""  # 400: the container has not started, so there is no log yet
        return text if isinstance(text, str) else ""


    def statefulset(self, namespace: str, name: str) -> Any:
        """The StatefulSet, or None."""
        return self.call(
            f"get StatefulSet {namespace}/{name}", self.apps.read_namespaced_stateful_set,
            name, namespace, missing_ok=True,
        )

    def annotate_statefulset(self, namespace: str, name: str, annotations: dict[str, Any]) -> None:
        """Merge ``annotations`` into the StatefulSet's (a None value removes the key)."""
        self.call(
            f"annotate StatefulSet {namespace}/{name}", self.apps.patch_namespaced_stateful_set,
            name, namespace, {"metadata": {"annotations": annotations}},
        )

    def scale_statefulset(self, namespace: str, name: str, replicas: int) -> None:
        """Set ``spec.replicas`` through the ``scale`` subresource."""
        self.call(
            f"scale StatefulSet {namespace}/{name}",
            self.apps.patch_namespaced_stateful_set_scale, name, namespace,
            {"spec": {"replicas": replicas}},
        )


# ---------------------------------------------------------------------- the executor


class KubernetesExecutor(Executor):
    """Runs agent jobs as Kubernetes Jobs in ``config.namespace``.

    Holds no job state: a new instance (a restarted worker) finds every job by name.

    Args:
        config: The executor settings (image, namespace, placement …).
        api: The API wrapper; default: a shared client for ``config.access``.
        cancel_timeout_seconds: How long ``cancel`` waits for the pod to stop (beyond the
            pod's grace period, the kubelet needs a moment to report).
    """

    def __init__(
        self,
        config: ExecutorConfig,
        api: KubernetesApi | None = None,
        *,
        cancel_timeout_seconds: float = GRACE_SECONDS + 30.0,
    ) -> None:
        self.config = config
        self.namespace = config.namespace
        self.api = api or KubernetesApi(api_client(config.access))
        self.cancel_timeout_seconds = cancel_timeout_seconds

    async def launch(self, spec: JobSpec) -> tuple[JobStatus, bool]:
        """Create the Job, or attach to the existing one of that name.

        Raises:
            JobRejected: The API server refused the Job (invalid, namespace missing).
            JobFailed: A Job of that name is being deleted; a later attempt creates it anew.
        """
        body = render_job(spec, self.config)
        attached = await asyncio.to_thread(self._create, spec.name, body)
        return await self.status(spec.name), attached

    async def status(self, name: str) -> JobStatus:
        """Status from the Job's conditions and its newest pod (MISSING if no Job)."""
        return await asyncio.to_thread(self._status_sync, name)

    async def logs(self, name: str, tail_lines: int = 50) -> str:
        """The last lines of the newest pod's log (stdout and stderr merged)."""
        return await asyncio.to_thread(self._logs_sync, name, tail_lines)

    async def cancel(self, name: str) -> None:
        """Suspend the Job (its pod gets SIGTERM) and wait until no pod runs; idempotent.

        Raises:
            JobFailed: A pod still runs after ``cancel_timeout_seconds``.
        """
        job = await asyncio.to_thread(self.api.job, self.namespace, validate_job_name(name))
        if job is None or _finished_condition(job) is not None:
            return
        await asyncio.to_thread(self._suspend, name)
        deadline = time.monotonic() + self.cancel_timeout_seconds
        while await asyncio.to_thread(self._pods_running, name):
            if time.monotonic() >= deadline:
                raise JobFailed(
                    f"job {name}: pods still running {self.cancel_timeout_seconds:g} s "
                    "after the Job was suspended"
                )
            await asyncio.sleep(_POLL_SECONDS)

    async def delete(self, name: str) -> None:
        """Cancel the Job if it runs, then delete it (pods by the garbage collector)."""
        await self.cancel(name)
        await asyncio.to_thread(
            self.api.call, f"delete Job {name}", self.api.batch.delete_namespaced_job,
            validate_job_name(name), self.namespace, propagation_policy="Background",
            missing_ok=True,
        )

    async def list(self, labels: dict[str, str]) -> JobStatusList:
        """Jobs whose labels include all of ``labels`` (encoded as rendered), oldest first."""
        return await asyncio.to_thread(self._list_sync, dict(labels))

    # ------------------------------------------------------------------ blocking parts

    def _create(self, name: str, body: Any) -> bool:
        """Create the Job; True if it already existed (attached)."""
        try:
            self.api.batch.create_namespaced_job(
                self.namespace, body, _request_timeout=REQUEST_TIMEOUT
            )
            return False
        except ApiException as exc:
            if exc.status != 409:
                raise classify(exc, f"create Job {self.namespace}/{name}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # The create may have happened: the caller's retry attaches to it.
            raise EndpointUnavailable(f"Kubernetes API: create Job {name}: {exc}") from None
        existing = self.api.job(self.namespace, name)
        if existing is not None and existing.metadata.deletion_timestamp is not None:
            raise JobFailed(f"job {name} is being deleted; a later attempt creates it anew")
        return True

    def _suspend(self, name: str) -> None:
        patch = {
            "metadata": {"annotations": {CANCELLED_ANNOTATION: datetime.now(UTC).isoformat()}},
            "spec": {"suspend": True},
        }
        self.api.call(
            f"suspend Job {name}", self.api.batch.patch_namespaced_job, name, self.namespace,
            patch, missing_ok=True,
        )

    def _job_pods(self, job: Any) -> Objects:
        return self.api.pods(self.namespace, f"{CONTROLLER_UID_LABEL}={job.metadata.uid}")

    def _pods_running(self, name: str) -> bool:
        job = self.api.job(self.namespace, name)
        if job is None:
            return False
        return any(_pod_phase(p) in ("Pending", "Running") for p in self._job_pods(job))

    def _status_sync(self, name: str) -> JobStatus:
        job = self.api.job(self.namespace, validate_job_name(name))
        if job is None:
            return _missing(name)
        return self._job_status(job, self._job_pods(job), detailed=True)

    def _logs_sync(self, name: str, count: int) -> str:
        job = self.api.job(self.namespace, validate_job_name(name))
        if job is None:
            return ""
        pods = self._job_pods(job)
        if not pods:
            return ""
        return tail_lines(self.api.pod_log(self.namespace, pods[-1].metadata.name, count), count)

    def _list_sync(self, labels: dict[str, str]) -> JobStatusList:
        selector = label_selector(labels)
        found: Any = self.api.call(
            f"list Jobs {selector}", self.api.batch.list_namespaced_job, self.namespace,
            label_selector=selector,
        )
        jobs: Objects = list(found.items or []) if found is not None else []
        # One pod list for all Jobs: the pods carry the Jobs' labels.
        by_uid: dict[str, Objects] = {}
        for pod in self.api.pods(self.namespace, selector):
            uid = str((pod.metadata.labels or {}).get(CONTROLLER_UID_LABEL) or "")
            by_uid.setdefault(uid, []).append(pod)
        statuses = [
            self._job_status(job, by_uid.get(job.metadata.uid, []), detailed=False)
            for job in jobs
            if all(raw_labels(job.metadata).get(k) == v for k, v in labels.items())
        ]
        far_future = datetime.max.replace(tzinfo=UTC)
        statuses.sort(key=lambda s: (s.created_at or far_future, s.name))
        return statuses

    def _job_status(self, job: Any, pods: Objects, *, detailed: bool) -> JobStatus:
        """Map a Job and its pods (oldest first) to a JobStatus.

        ``detailed`` reads the pod log for progress and for a failure without a
        termination message; ``list`` skips that to stay at two API calls.
        """
        name = job.metadata.name
        labels = raw_labels(job.metadata)
        created_at = _aware(job.metadata.creation_timestamp)
        pod = pods[-1] if pods else None
        terminated = _terminated(pod)
        log_text = ""
        if detailed and pod is not None:
            log_text = self.api.pod_log(self.namespace, pod.metadata.name, _PROGRESS_TAIL_LINES)
        progress = last_json_line(log_text, require_key="phase") if log_text else None
        condition = _finished_condition(job)
        cancelled = (job.metadata.annotations or {}).get(CANCELLED_ANNOTATION)

        def status(state: JobState, **kw: Any) -> JobStatus:
            fields: dict[str, Any] = {
                "exit_code": None, "message": None, "report_json": None,
                "finished_at": None, **kw,
            }
            return JobStatus(
                name=name, state=state, labels=labels, progress_json=progress,
                created_at=created_at, **fields,
            )

        if condition is not None and condition.type == "Complete":
            succeeded = next((p for p in reversed(pods) if _pod_phase(p) == "Succeeded"), pod)
            report = _terminated(succeeded)
            return status(
                JobState.SUCCEEDED,
                exit_code=EXIT_SUCCEEDED,
                report_json=(report.message or None) if report is not None else None,
                finished_at=_aware(job.status.completion_time),
            )
        if condition is None and not (cancelled and not _any_running(pods)):
            return status(JobState.RUNNING, message=_waiting_message(pod))

        reasons: list[str] = []
        if cancelled:
            reasons.append("cancelled")
        deadline = condition is not None and condition.reason == "DeadlineExceeded"
        if condition is not None:
            reasons.append(f"{condition.reason or 'Failed'}: {condition.message or ''}".strip())
        exit_code = terminated.exit_code if terminated is not None else None
        text = (terminated.message or "") if terminated is not None else ""
        error_json = text if _is_error_json(text) else None
        stderr_tail = "" if error_json else text
        if not error_json and not stderr_tail:
            stderr_tail = tail_lines(log_text, FAILURE_TAIL_LINES)
        finished_at = _aware(getattr(condition, "last_transition_time", None)) or _aware(
            terminated.finished_at if terminated is not None else None
        )
        return status(
            JobState.FAILED,
            exit_code=exit_code,
            message=failure_message(
                exit_code=exit_code, error_json=error_json, stderr_tail=stderr_tail,
                reason="; ".join(reasons) or None,
            ),
            finished_at=finished_at,
            permanent=deadline or exit_code == EXIT_PERMANENT,
            error_type="JobTimedOut" if deadline else error_file_type(error_json),
        )


# ---------------------------------------------------------------------- helpers


def _finished_condition(job: Any) -> Any:
    """The Job's true ``Complete`` or ``Failed`` condition, if any."""
    for condition in (job.status.conditions if job.status else None) or []:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return condition
    return None


def _pod_phase(pod: Any) -> str:
    return str(pod.status.phase) if pod is not None and pod.status else "Unknown"


def _any_running(pods: Objects) -> bool:
    return any(_pod_phase(p) in ("Pending", "Running") for p in pods)


def _agent_status(pod: Any) -> Any:
    if pod is None or pod.status is None:
        return None
    for container in pod.status.container_statuses or []:
        if container.name == CONTAINER:
            return container
    return None


def _terminated(pod: Any) -> Any:
    container = _agent_status(pod)
    return container.state.terminated if container is not None and container.state else None


def _waiting_message(pod: Any) -> str | None:
    """Why the pod is not running yet (image pull, missing Secret …), if it says."""
    container = _agent_status(pod)
    waiting = container.state.waiting if container is not None and container.state else None
    if waiting is None or waiting.reason in (None, "ContainerCreating", "PodInitializing"):
        return None
    return f"{waiting.reason}: {waiting.message or ''}".strip(": ")


def _is_error_json(text: str) -> bool:
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        return isinstance(data, dict) and "error_type" in data
    return False


def _created(metadata: Any) -> datetime:
    return _aware(metadata.creation_timestamp) or datetime.min.replace(tzinfo=UTC)


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _missing(name: str) -> JobStatus:
    return JobStatus(
        name=name, state=JobState.MISSING, labels={}, exit_code=None, message=None,
        report_json=None, progress_json=None, created_at=None, finished_at=None,
    )

