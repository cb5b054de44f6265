"""The Kubernetes API calls shardkeeper makes, each with a timeout and classified errors.

The client is synchronous; callers run every call in a thread (``asyncio.to_thread``), and the
request timeout keeps a hung API server from hanging that thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from shardkeeper.activities.executor.kubernetes.api_errors import classify
from shardkeeper.activities.executor.kubernetes.pod_status import created
from shardkeeper.activities.executor.render import CONTAINER
from shardkeeper.errors import EndpointUnavailable, JobRejected

# (connect, read) seconds for every API call: a hung API server must not hang a thread.
REQUEST_TIMEOUT: Final = (5.0, 30.0)
_T = TypeVar("_T")
# ``list`` is a method name of the executor; this alias keeps annotations unambiguous.
Objects = list[Any]


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
        items.sort(key=lambda p: (created(p.metadata), p.metadata.name))
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
