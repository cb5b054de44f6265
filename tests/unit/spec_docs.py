"""Builders of small valid documents for the spec and plan tests (edited per test)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

API = "shardkeeper.io/v1alpha1"

CLUSTER: dict[str, Any] = {
    "apiVersion": API,
    "kind": "Cluster",
    "metadata": {"name": "demo"},
    "spec": {
        "keyspaces": [
            {"name": "commerce", "shards": [
                {"name": "-", "instances": [
                    {"name": "commerce-0", "role": "primary", "host": "127.0.0.1", "port": 3306},
                ]},
            ]},
            {"name": "customer", "shards": [
                {"name": "-80", "instances": [
                    {"name": "customer-x-80-0", "role": "primary", "socket": "/tmp/a.sock"},
                    {"name": "customer-x-80-1", "role": "replica", "socket": "/tmp/b.sock"},
                ]},
                {"name": "80-", "instances": [
                    {"name": "customer-80-x-0", "role": "primary", "socket": "/tmp/c.sock"},
                ]},
            ]},
        ]
    },
}


def schedule(name: str = "every-6h", **spec: Any) -> dict[str, Any]:
    """A valid BackupSchedule of cluster demo (frequency 6h, one Cluster strategy)."""
    body: dict[str, Any] = {
        "cluster": "demo",
        "frequency": "6h",
        "strategies": [{"name": "all", "scope": "Cluster"}],
        "destination": {"s3": {"bucket": "shardkeeper-demo",
                               "endpoint": "http://127.0.0.1:8333"}},
    }
    body.update(spec)
    return {"apiVersion": API, "kind": "BackupSchedule", "metadata": {"name": name},
            "spec": body}


def backup(name: str = "before-migration", **spec: Any) -> dict[str, Any]:
    """A Backup of cluster demo (no destination: taken from the cluster's schedule)."""
    body: dict[str, Any] = {"cluster": "demo"}
    body.update(spec)
    return {"apiVersion": API, "kind": "Backup", "metadata": {"name": name}, "spec": body}


def cluster(**edits: Any) -> dict[str, Any]:
    """A copy of the demo cluster document."""
    doc = copy.deepcopy(CLUSTER)
    doc["spec"].update(edits)
    return doc


def write(directory: Path, *docs: dict[str, Any], name: str = "docs.yaml") -> Path:
    """Write documents into one multi-document YAML file."""
    path = directory / name
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path
