"""Topology discovery on Kubernetes: the cluster's shards from its database pods.

Pods are labelled with cluster, keyspace, shard and role (the keys are configurable in
``PodDiscovery``). A shard name such as ``-80`` is not a valid label value, so the label
holds its encoding (``render.label_value``) and the annotation of the same key the raw name;
a valid name (``40-80``, ``0``) may stand in the label alone.

Only pods that are Ready and not being deleted are instances: a shard whose primary is not
ready then has no primary, which the readiness check reports as "not ready" rather than a
backup of a pod in trouble.
"""

from __future__ import annotations

from typing import Any

from shardkeeper.activities.executor.kubernetes import KubernetesApi, api_client
from shardkeeper.activities.executor.render import label_value
from shardkeeper.contracts.common import (
    Instance,
    PodDiscovery,
    Role,
    ShardTopology,
    Topology,
    TopologySource,
)
from shardkeeper.errors import SpecInvalid


def discover(source: TopologySource, api: KubernetesApi | None = None) -> Topology:
    """List the cluster's pods and build its topology (blocking: run it in a thread).

    Args:
        source: A ``kind: kubernetes`` topology source.
        api: The API wrapper; default: a shared client for ``source.access``.

    Raises:
        SpecInvalid: The source names no pod discovery settings.
    """
    if source.pods is None:
        raise SpecInvalid("topology_source: kind 'kubernetes' needs 'pods'")
    settings = source.pods
    api = api or KubernetesApi(api_client(source.access))
    selector = f"{settings.cluster_label}={label_value(source.cluster)}"
    if settings.label_selector:
        selector = f"{selector},{settings.label_selector}"
    return topology_from_pods(source.cluster, api.pods(settings.namespace, selector), settings)


def topology_from_pods(cluster: str, pods: list[Any], settings: PodDiscovery) -> Topology:
    """The topology that ``pods`` (client models) describe.

    Pods without the keyspace, shard or a valid role label, and pods that are not ready,
    are left out.
    """
    shards: dict[tuple[str, str], list[Instance]] = {}
    for pod in pods:
        placed = _placement(pod, settings)
        if placed is None or not _ready(pod):
            continue
        keyspace, shard, role = placed
        instance = Instance(
            name=pod.metadata.name, role=role, host=_host(pod, settings),
            port=_port(pod, settings.port_name),
        )
        shards.setdefault((keyspace, shard), []).append(instance)
    return Topology(
        cluster=cluster,
        credentials=settings.credentials,
        shards=tuple(
            ShardTopology(keyspace=k, shard=s,
                          instances=tuple(sorted(found, key=lambda i: i.name)))
            for (k, s), found in sorted(shards.items())
        ),
    )


def _placement(pod: Any, settings: PodDiscovery) -> tuple[str, str, Role] | None:
    labels = pod.metadata.labels or {}
    annotations = pod.metadata.annotations or {}
    keyspace = labels.get(settings.keyspace_label)
    shard = annotations.get(settings.shard_label) or labels.get(settings.shard_label)
    role = labels.get(settings.role_label)
    if not keyspace or not shard or role not in (Role.PRIMARY.value, Role.REPLICA.value):
        return None
    # an annotation that does not belong to the label (copied, edited) is not trusted
    if label_value(shard) != labels.get(settings.shard_label):
        return None
    return keyspace, shard, Role(role)


def _ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp is not None or pod.status is None:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _host(pod: Any, settings: PodDiscovery) -> str | None:
    if settings.service:
        return f"{pod.metadata.name}.{settings.service}.{settings.namespace}.svc"
    return str(pod.status.pod_ip) if pod.status.pod_ip else None


def _port(pod: Any, name: str) -> int | None:
    for container in pod.spec.containers if pod.spec else []:
        for port in container.ports or []:
            if port.name == name:
                return int(port.container_port)
    return None
