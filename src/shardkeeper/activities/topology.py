"""resolve_shards: the cluster's shards as they are now.

Read at every run, so a shard added or removed by resharding is picked up by the next run
without touching the schedule.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio import activity

from shardkeeper.contracts import names
from shardkeeper.contracts.backup import ResolveShardsInput, ResolveShardsResult
from shardkeeper.contracts.common import Topology, TopologySource
from shardkeeper.errors import SpecInvalid
from shardkeeper.spec.cluster import Cluster
from shardkeeper.spec.convert import topology_of
from shardkeeper.spec.load import load


def read_topology(source: TopologySource) -> Topology:
    """Load the topology a source names (blocking)."""
    if source.kind == "kubernetes":
        from shardkeeper.activities.discovery import discover  # loads the kubernetes client

        return discover(source)
    if source.kind == "inline":
        if source.topology is None:
            raise SpecInvalid("topology_source: kind 'inline' needs 'topology'")
        return source.topology
    if not source.path:
        raise SpecInvalid("topology_source: kind 'file' needs 'path'")
    specs = load([Path(source.path)])
    loaded = specs.clusters.get(source.cluster)
    if loaded is None or not isinstance(loaded.resource, Cluster):
        found = ", ".join(sorted(specs.clusters)) or "none"
        raise SpecInvalid(
            f"{source.path}: no kind: Cluster document named {source.cluster!r} (found: {found})"
        )
    return topology_of(loaded.resource)


@activity.defn(name=names.RESOLVE_SHARDS)
async def resolve_shards(inp: ResolveShardsInput) -> ResolveShardsResult:
    """Read the topology from its source."""
    topology = await asyncio.to_thread(read_topology, inp.source)
    return ResolveShardsResult(topology=topology)
