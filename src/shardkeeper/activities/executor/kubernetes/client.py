"""The Kubernetes API client: one per configuration, shared by every caller in the process."""

from __future__ import annotations

import threading

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from shardkeeper.contracts.common import KubernetesAccess
from shardkeeper.errors import JobRejected

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
    """In-cluster configuration when asked (or when no kubeconfig is named), else kubeconfig."""
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
