"""Topology from labelled pods, and StatefulSet fencing, against the fake API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import config as k8s_config

from k8s.fake_api import FakeKubernetes
from shardkeeper.activities.executor.kubernetes import KubernetesApi
from shardkeeper.activities.executor.render import label_value
from shardkeeper.activities.fencing_k8s import (
    ORIGINAL_REPLICAS_ANNOTATION,
    scale_back,
    scale_down,
    wait_for_replicas,
)
from shardkeeper.activities.topology import read_topology
from shardkeeper.contracts.common import KubernetesAccess, PodDiscovery, TopologySource

NS = "databases"


def _pod(name: str, keyspace: str, shard: str, role: str, *, ready: bool = True,
         cluster: str = "demo", ip: str = "10.0.0.1") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS,
                     "labels": {"shardkeeper.io/cluster": cluster,
                                "shardkeeper.io/keyspace": keyspace,
                                "shardkeeper.io/shard": label_value(shard),
                                "shardkeeper.io/role": role, "app": "mariadb"},
                     "annotations": {"shardkeeper.io/shard": shard}},
        "spec": {"containers": [{"name": "mariadb", "image": "mariadb:11",
                                 "ports": [{"name": "mysql", "containerPort": 3306},
                                           {"name": "metrics", "containerPort": 9104}]}]},
        "status": {"phase": "Running", "podIP": ip,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def _source(kubeconfig: Path, **pods: Any) -> TopologySource:
    return TopologySource(kind="kubernetes", cluster="demo",
                          access=KubernetesAccess(kubeconfig=str(kubeconfig)),
                          pods=PodDiscovery(namespace=NS, label_selector="app=mariadb", **pods))


def test_the_topology_comes_from_ready_labelled_pods(
    fake_k8s: FakeKubernetes, kubeconfig: Path
) -> None:
    for pod in [_pod("commerce-0", "commerce", "-", "primary"),
                _pod("commerce-1", "commerce", "-", "replica", ip="10.0.0.2"),
                _pod("customer-x80-0", "customer", "-80", "primary"),
                _pod("customer-x80-1", "customer", "-80", "replica", ready=False),
                _pod("customer-80x-0", "customer", "80-", "primary"),
                _pod("other-0", "customer", "80-", "primary", cluster="other")]:
        fake_k8s.put("pods", pod)
    topology = read_topology(_source(kubeconfig))
    assert [(s.keyspace, s.shard, [i.name for i in s.instances]) for s in topology.shards] == [
        ("commerce", "-", ["commerce-0", "commerce-1"]),
        ("customer", "-80", ["customer-x80-0"]),  # the unready replica is left out
        ("customer", "80-", ["customer-80x-0"]),
    ]
    replica = topology.shards[0].instances[1]
    assert (replica.role.value, replica.host, replica.port) == ("replica", "10.0.0.2", 3306)
    with_service = read_topology(_source(kubeconfig, service="commerce"))
    assert with_service.shards[0].instances[0].host == "commerce-0.commerce.databases.svc"


def test_fencing_scales_to_zero_and_back_idempotently(
    fake_k8s: FakeKubernetes, kubeconfig: Path
) -> None:
    fake_k8s.put("statefulsets", {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "customer-x80", "namespace": NS},
        "spec": {"replicas": 2, "serviceName": "customer-x80",
                 "selector": {"matchLabels": {"app": "mariadb"}},
                 "template": {"metadata": {"labels": {"app": "mariadb"}},
                              "spec": {"containers": [{"name": "mariadb", "image": "m"}]}}},
        "status": {"replicas": 2},
    })
    api = KubernetesApi(k8s_config.new_client_from_config(config_file=str(kubeconfig)))
    assert scale_down(api, NS, "customer-x80") == 2
    assert scale_down(api, NS, "customer-x80") == 2, "a retry remembers the original size"
    wait_for_replicas(api, NS, "customer-x80", 0, timeout_seconds=5)
    stored = fake_k8s.get("statefulsets", NS, "customer-x80")
    assert stored is not None and stored["spec"]["replicas"] == 0
    assert stored["metadata"]["annotations"][ORIGINAL_REPLICAS_ANNOTATION] == "2"
    assert scale_back(api, NS, "customer-x80") == 2
    assert scale_back(api, NS, "customer-x80") is None, "nothing left to undo"
    stored = fake_k8s.get("statefulsets", NS, "customer-x80")
    assert stored is not None and stored["spec"]["replicas"] == 2
    assert ORIGINAL_REPLICAS_ANNOTATION not in (stored["metadata"].get("annotations") or {})
