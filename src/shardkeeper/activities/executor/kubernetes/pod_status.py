"""What a Job and its pods say: finished conditions, pod phases, the agent container's state.

The API objects are the client's generated models, read field by field (typed ``Any``: the
client ships no usable types).
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from shardkeeper.activities.executor.render import CONTAINER


def finished_condition(job: Any) -> Any:
    """The Job's true ``Complete`` or ``Failed`` condition, if any."""
    for condition in (job.status.conditions if job.status else None) or []:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return condition
    return None


def pod_phase(pod: Any) -> str:
    """The pod's phase (``Pending``, ``Running``, ``Succeeded`` …), ``Unknown`` if unset."""
    return str(pod.status.phase) if pod is not None and pod.status else "Unknown"


def any_running(pods: list[Any]) -> bool:
    """Whether any of the pods is pending or running."""
    return any(pod_phase(p) in ("Pending", "Running") for p in pods)


def terminated(pod: Any) -> Any:
    """The agent container's ``terminated`` state (exit code, termination message), if any."""
    container = _agent_status(pod)
    return container.state.terminated if container is not None and container.state else None


def waiting_message(pod: Any) -> str | None:
    """Why the pod is not running yet (image pull, missing Secret …), if it says."""
    container = _agent_status(pod)
    waiting = container.state.waiting if container is not None and container.state else None
    if waiting is None or waiting.reason in (None, "ContainerCreating", "PodInitializing"):
        return None
    return f"{waiting.reason}: {waiting.message or ''}".strip(": ")


def is_error_json(text: str) -> bool:
    """Whether a termination message is the agent's error file (a JSON ``error_type``)."""
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        return isinstance(data, dict) and "error_type" in data
    return False


def created(metadata: Any) -> datetime:
    """An object's creation time (the earliest time if unset), for ordering."""
    return aware(metadata.creation_timestamp) or datetime.min.replace(tzinfo=UTC)


def aware(value: Any) -> datetime | None:
    """A timestamp from the API as an aware datetime (UTC if naive), None if absent."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _agent_status(pod: Any) -> Any:
    if pod is None or pod.status is None:
        return None
    for container in pod.status.container_statuses or []:
        if container.name == CONTAINER:
            return container
    return None
