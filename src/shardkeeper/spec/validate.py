"""Rules across documents: references between them and what the strategies expand to.

The analogue of an admission webhook: run by ``apply`` and ``plan`` before anything is
created, so a schedule that names an unknown cluster, keyspace or shard never reaches Temporal.
"""

from __future__ import annotations

from shardkeeper.errors import SpecInvalid
from shardkeeper.scopes import expand
from shardkeeper.spec.convert import excluded_keyspaces, strategies_of, topology_of
from shardkeeper.spec.load import SpecSet
from shardkeeper.spec.schedule import BackupSchedule


def check_references(specs: SpecSet) -> None:
    """Raise SpecInvalid listing every broken reference or overlapping strategy."""
    errors: list[str] = []
    for loaded in specs.schedules:
        sched = loaded.resource
        if not isinstance(sched, BackupSchedule):  # pragma: no cover
            continue
        cluster = specs.clusters.get(sched.spec.cluster)
        if cluster is None:
            known = ", ".join(sorted(specs.clusters)) or "none (pass the Cluster file too)"
            errors.append(
                f"{loaded.where}: spec.cluster: unknown cluster {sched.spec.cluster!r}; "
                f"clusters in the given files: {known}"
            )
            continue
        topology = topology_of(cluster.resource)  # type: ignore[arg-type]
        shards = {ks: {s.shard for s in topology.shards if s.keyspace == ks}
                  for ks in topology.keyspaces()}
        for i, st in enumerate(sched.spec.strategies):
            field = f"spec.strategies[{i}]"
            if st.keyspace is not None and st.keyspace not in shards:
                errors.append(
                    f"{loaded.where}: {field}.keyspace: unknown keyspace {st.keyspace!r}; "
                    f"keyspaces of cluster {sched.spec.cluster!r}: {', '.join(sorted(shards))}"
                )
            elif st.shard is not None and st.keyspace is not None and (
                st.shard not in shards[st.keyspace]
            ):
                errors.append(
                    f"{loaded.where}: {field}.shard: unknown shard {st.shard!r} in keyspace "
                    f"{st.keyspace!r}; shards: {', '.join(sorted(shards[st.keyspace]))}"
                )
        _, skipped = expand(
            topology,
            strategies_of(sched.spec),
            excluded_keyspaces(specs, sched.spec.cluster, sched.metadata.name),
        )
        for skip in skipped:
            if skip.reason.startswith("already covered"):
                errors.append(
                    f"{loaded.where}: spec.strategies: strategy {skip.strategy!r} and "
                    f"{skip.reason.removeprefix('already covered by strategy ')} both cover "
                    f"shard {skip.keyspace}/{skip.shard}"
                )
    if errors:
        raise SpecInvalid("\n".join(errors))
