"""Rules across documents: references between them and what the strategies expand to.

The analogue of an admission webhook: run by ``apply`` and ``plan`` before anything is
created, so a schedule that names an unknown cluster, keyspace or shard never reaches Temporal.
"""

from __future__ import annotations

from shardkeeper.contracts.common import Topology
from shardkeeper.errors import SpecInvalid
from shardkeeper.scopes import expand
from shardkeeper.spec.backup import Backup
from shardkeeper.spec.cluster import Cluster
from shardkeeper.spec.convert import (
    backup_policy_of,
    excluded_keyspaces,
    strategies_of,
    topology_of,
)
from shardkeeper.spec.load import Loaded, SpecSet
from shardkeeper.spec.schedule import BackupSchedule


def _topology(specs: SpecSet, loaded: Loaded, cluster: str, errors: list[str]) -> Topology | None:
    doc = specs.clusters.get(cluster)
    if doc is None or not isinstance(doc.resource, Cluster):
        known = ", ".join(sorted(specs.clusters)) or "none (pass the Cluster file too)"
        errors.append(
            f"{loaded.where}: spec.cluster: unknown cluster {cluster!r}; "
            f"clusters in the given files: {known}"
        )
        return None
    return topology_of(doc.resource)


def _target_errors(
    where: str, field: str, topology: Topology, keyspace: str | None, shard: str | None
) -> list[str]:
    """Unknown keyspace or shard named by a strategy or a Backup."""
    shards = {ks: {s.shard for s in topology.shards if s.keyspace == ks}
              for ks in topology.keyspaces()}
    if keyspace is not None and keyspace not in shards:
        return [
            f"{where}: {field}keyspace: unknown keyspace {keyspace!r}; "
            f"keyspaces of cluster {topology.cluster!r}: {', '.join(sorted(shards))}"
        ]
    if shard is not None and keyspace is not None and shard not in shards[keyspace]:
        return [
            f"{where}: {field}shard: unknown shard {shard!r} in keyspace "
            f"{keyspace!r}; shards: {', '.join(sorted(shards[keyspace]))}"
        ]
    return []


def _schedule_errors(loaded: Loaded, specs: SpecSet) -> list[str]:
    sched = loaded.resource
    if not isinstance(sched, BackupSchedule):  # pragma: no cover
        return []
    errors: list[str] = []
    topology = _topology(specs, loaded, sched.spec.cluster, errors)
    if topology is None:
        return errors
    for i, st in enumerate(sched.spec.strategies):
        errors += _target_errors(
            loaded.where, f"spec.strategies[{i}].", topology, st.keyspace, st.shard
        )
    if errors:
        return errors
    _, skipped = expand(
        topology,
        strategies_of(sched.spec),
        excluded_keyspaces(specs, sched.spec.cluster, sched.metadata.name),
    )
    index = {s.name: i for i, s in enumerate(sched.spec.strategies)}
    for skip in skipped:
        if skip.reason.startswith("already covered"):
            errors.append(
                f"{loaded.where}: spec.strategies[{index[skip.strategy]}]: strategy "
                f"{skip.strategy!r} and "
                f"{skip.reason.removeprefix('already covered by strategy ')} both cover "
                f"shard {skip.keyspace}/{skip.shard}; a shard may be covered once per schedule"
            )
    return errors


def _backup_errors(loaded: Loaded, specs: SpecSet) -> list[str]:
    backup = loaded.resource
    if not isinstance(backup, Backup):  # pragma: no cover
        return []
    errors: list[str] = []
    topology = _topology(specs, loaded, backup.spec.cluster, errors)
    if topology is None:
        return errors
    errors += _target_errors(
        loaded.where, "spec.", topology, backup.spec.keyspace, backup.spec.shard
    )
    try:
        backup_policy_of(loaded, specs)
    except SpecInvalid as err:
        errors.append(str(err))
    return errors


def check_references(specs: SpecSet) -> None:
    """Raise SpecInvalid listing every broken reference or overlapping strategy."""
    errors: list[str] = []
    for loaded in specs.schedules:
        errors += _schedule_errors(loaded, specs)
    for loaded in specs.backups:
        errors += _backup_errors(loaded, specs)
    if errors:
        raise SpecInvalid("\n".join(errors))
