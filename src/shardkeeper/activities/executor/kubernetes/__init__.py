"""The Kubernetes executor's room: agent jobs as ``batch/v1`` Jobs; the one room calling the API.

``client`` makes the shared API client, ``api`` wraps the calls shardkeeper makes (timeouts,
errors classified by ``api_errors``), ``pod_status`` reads Job and pod objects, ``job_status``
maps them to a ``JobStatus`` and ``executor`` holds :class:`KubernetesExecutor`. How a
``JobSpec`` becomes a Job manifest is ``shardkeeper.activities.executor.render``.
"""

from shardkeeper.activities.executor.kubernetes.api import REQUEST_TIMEOUT, KubernetesApi
from shardkeeper.activities.executor.kubernetes.api_errors import classify
from shardkeeper.activities.executor.kubernetes.client import api_client
from shardkeeper.activities.executor.kubernetes.executor import (
    CONTROLLER_UID_LABEL,
    KubernetesExecutor,
)
from shardkeeper.activities.executor.kubernetes.job_status import CANCELLED_ANNOTATION

__all__ = [
    "CANCELLED_ANNOTATION",
    "CONTROLLER_UID_LABEL",
    "REQUEST_TIMEOUT",
    "KubernetesApi",
    "KubernetesExecutor",
    "api_client",
    "classify",
]
