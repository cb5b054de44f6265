"""KubernetesExecutor: agent jobs as ``batch/v1`` Jobs, known only from the API server.

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
- **Errors** are classified by HTTP status, never by message (``api_errors``): 401/403 →
  ``AccessDenied``, 400/422 → ``JobRejected`` (permanent), 404 → missing, 409 → attach, 429/5xx and
  connection failures → ``EndpointUnavailable``.

The room: ``client`` (the shared API client), ``api`` (the calls, with timeouts), ``api_errors``,
``pod_status`` (reading Job and pod objects), ``job_status`` (their ``JobStatus``) and this
executor. The Kubernetes client is synchronous; every call runs in a thread (``asyncio.to_thread``)
with a request timeout, so the event loop never blocks on the API server.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, Final

import urllib3
from kubernetes.client.exceptions import ApiException

from shardkeeper.activities.executor.base import (
    Executor,
    JobSpec,
    JobStatus,
    JobStatusList,
    tail_lines,
    validate_job_name,
)
from shardkeeper.activities.executor.kubernetes.api import REQUEST_TIMEOUT, KubernetesApi, Objects
from shardkeeper.activities.executor.kubernetes.api_errors import classify
from shardkeeper.activities.executor.kubernetes.client import api_client
from shardkeeper.activities.executor.kubernetes.job_status import (
    CANCELLED_ANNOTATION,
    job_status,
    missing,
)
from shardkeeper.activities.executor.kubernetes.pod_status import finished_condition, pod_phase
from shardkeeper.activities.executor.render import (
    GRACE_SECONDS,
    label_selector,
    raw_labels,
    render_job,
)
from shardkeeper.contracts.common import ExecutorConfig
from shardkeeper.errors import EndpointUnavailable, JobUnreachable

CONTROLLER_UID_LABEL: Final = "batch.kubernetes.io/controller-uid"
# Progress is the last "phase" line of the pod log; the agent prints one about every second
# and logs a few lines in between, so this many lines always hold one.
_PROGRESS_TAIL_LINES: Final = 200
_POLL_SECONDS: Final = 0.2


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
            JobUnreachable: A Job of that name is being deleted; a later attempt creates it anew.
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
            JobUnreachable: A pod still runs after ``cancel_timeout_seconds``.
        """
        job = await asyncio.to_thread(self.api.job, self.namespace, validate_job_name(name))
        if job is None or finished_condition(job) is not None:
            return
        await asyncio.to_thread(self._suspend, name)
        deadline = time.monotonic() + self.cancel_timeout_seconds
        while await asyncio.to_thread(self._pods_running, name):
            if time.monotonic() >= deadline:
                raise JobUnreachable(
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
            raise JobUnreachable(f"job {name} is being deleted; a later attempt creates it anew")
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
        return any(pod_phase(p) in ("Pending", "Running") for p in self._job_pods(job))

    def _status_sync(self, name: str) -> JobStatus:
        job = self.api.job(self.namespace, validate_job_name(name))
        if job is None:
            return missing(name)
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
        log_text = ""
        if detailed and pods:
            newest = pods[-1].metadata.name
            log_text = self.api.pod_log(self.namespace, newest, _PROGRESS_TAIL_LINES)
        return job_status(job, pods, log_text)
