"""Restore fencing on Kubernetes: scale an instance's StatefulSet to 0 and back.

A restore writes into a database's volume, so nothing may run on it: the StatefulSet is
scaled to 0 first and back to its original size as the saga's compensation (or after the
restore). The original size is remembered in an annotation of the StatefulSet itself,
written *before* scaling down, so a worker that dies in between leaves enough behind for
the next attempt: both helpers are idempotent and safe to retry.

Blocking functions (the Kubernetes client is synchronous): call them with
``asyncio.to_thread`` from an activity.
"""

from __future__ import annotations

import time
from typing import Final

from shardkeeper.activities.executor.kubernetes import KubernetesApi
from shardkeeper.errors import BackupNotFound, ShardNotReady

ORIGINAL_REPLICAS_ANNOTATION: Final = "shardkeeper.io/fenced-replicas"
_POLL_SECONDS: Final = 1.0


def scale_down(api: KubernetesApi, namespace: str, name: str) -> int:
    """Scale the StatefulSet to 0, remembering its size; a second call changes nothing.

    Returns:
        The original number of replicas (from the annotation if already fenced).

    Raises:
        BackupNotFound: No such StatefulSet (the restore target is wrong).
    """
    statefulset = _get(api, namespace, name)
    remembered = (statefulset.metadata.annotations or {}).get(ORIGINAL_REPLICAS_ANNOTATION)
    if remembered is None:
        original = int(statefulset.spec.replicas if statefulset.spec.replicas is not None else 1)
        api.annotate_statefulset(namespace, name, {ORIGINAL_REPLICAS_ANNOTATION: str(original)})
    else:
        original = int(remembered)
    api.scale_statefulset(namespace, name, 0)
    return original


def scale_back(api: KubernetesApi, namespace: str, name: str) -> int | None:
    """Restore the size ``scale_down`` remembered and forget it; a no-op if not fenced.

    Returns:
        The replicas scaled back to, or None when there was nothing to undo.
    """
    statefulset = _get(api, namespace, name)
    remembered = (statefulset.metadata.annotations or {}).get(ORIGINAL_REPLICAS_ANNOTATION)
    if remembered is None:
        return None
    api.scale_statefulset(namespace, name, int(remembered))
    # only after the scale succeeded: a retry must still know the size
    api.annotate_statefulset(namespace, name, {ORIGINAL_REPLICAS_ANNOTATION: None})
    return int(remembered)


def wait_for_replicas(
    api: KubernetesApi, namespace: str, name: str, replicas: int, timeout_seconds: float
) -> None:
    """Wait until the StatefulSet reports ``replicas`` pods (0: all pods gone).

    Raises:
        ShardNotReady: Not there within ``timeout_seconds`` (retryable).
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        status = _get(api, namespace, name).status
        current = (status.replicas or 0) if status is not None else 0
        if current == replicas:
            return
        if time.monotonic() >= deadline:
            raise ShardNotReady(
                f"StatefulSet {namespace}/{name} has {current} replicas, not {replicas}, "
                f"after {timeout_seconds:g} s"
            )
        time.sleep(_POLL_SECONDS)


def _get(api: KubernetesApi, namespace: str, name: str):  # type: ignore[no-untyped-def]
    statefulset = api.statefulset(namespace, name)
    if statefulset is None:
        raise BackupNotFound(f"StatefulSet {namespace}/{name} does not exist")
    return statefulset
