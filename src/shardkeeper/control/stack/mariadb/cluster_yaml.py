"""The shardkeeper ``kind: Cluster`` document that describes a running cluster, and its YAML."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from shardkeeper.control.stack.mariadb.instance import InstanceInfo


def cluster_document(
    *,
    name: str,
    user: str,
    password_env: str,
    keyspaces: Mapping[str, Mapping[str, Sequence[InstanceInfo]]],
    start_command: Callable[[InstanceInfo], list[str]],
) -> dict[str, Any]:
    """The ``kind: Cluster`` document of a cluster.

    Args:
        name: The cluster's name (``metadata.name``).
        user: The account shardkeeper connects as.
        password_env: Environment variable from which shardkeeper reads the password.
        keyspaces: Keyspace to shard to the shard's instances, primary first.
        start_command: An instance's ``mariadbd`` command line (``startCommand``).

    Returns:
        The document as a plain dict (camelCase keys), ready for YAML.
    """
    keyspace_docs = []
    for keyspace, shards in keyspaces.items():
        shard_docs = []
        for shard, members in shards.items():
            shard_docs.append(
                {
                    "name": shard,
                    "instances": [
                        {
                            "name": i.name,
                            "role": i.role,
                            "host": i.host,
                            "port": i.port,
                            "socket": str(i.socket),
                            "datadir": str(i.datadir),
                            "startCommand": start_command(i),
                        }
                        for i in members
                    ],
                }
            )
        keyspace_docs.append({"name": keyspace, "shards": shard_docs})
    return {
        "apiVersion": "shardkeeper.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name},
        "spec": {
            "credentials": {"user": user, "passwordFrom": {"env": password_env}},
            "keyspaces": keyspace_docs,
        },
    }


def write_yaml(path: Path | str, document: Mapping[str, Any]) -> Path:
    """Write ``document`` as YAML to ``path`` (parents are created) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(dict(document), sort_keys=False, width=100))
    return target
