"""API errors as domain errors, classified by HTTP status, never by message.

401/403 → ``AccessDenied``, 400/404/422 → ``JobRejected`` (permanent), 429/5xx and no status
→ ``EndpointUnavailable`` (with ``Retry-After``), anything else → ``JobUnreachable``.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from kubernetes.client.exceptions import ApiException

from shardkeeper.errors import (
    AccessDenied,
    EndpointUnavailable,
    JobRejected,
    JobUnreachable,
    ShardkeeperError,
)


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
    return JobUnreachable(message)


def _status_message(body: Any) -> str:
    """The ``message`` of a ``kind: Status`` error body, else the body itself (bounded)."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])
    return text[:500]
