"""existing_backups, prune_removed_shards: what a BackupRun reads from the store itself.

Both run once per run, not per shard: one listing of the cluster's prefix, no payload read.
"""

from __future__ import annotations

import asyncio

from temporalio import activity

from shardkeeper.activities.heartbeat import Heartbeater
from shardkeeper.contracts import names
from shardkeeper.contracts.catalog import (
    ExistingBackup,
    ExistingBackupsInput,
    ExistingBackupsResult,
    PruneRemovedShardsInput,
    PruneRemovedShardsResult,
    RemovedShardPruned,
)
from shardkeeper.datapath.stores import catalog, removed_shards


@activity.defn(name=names.EXISTING_BACKUPS)
async def existing_backups(inp: ExistingBackupsInput) -> ExistingBackupsResult:
    """The targets that already have a committed backup of this schedule and strategy."""
    dirs = await asyncio.to_thread(catalog.shard_directories, inp.destination, inp.cluster)
    found = []
    for t in inp.targets:
        newest = catalog.newest_of_pair(dirs.get((t.keyspace, t.shard), set()), inp.schedule,
                                        t.strategy)
        if newest is not None:
            found.append(ExistingBackup(keyspace=t.keyspace, shard=t.shard, strategy=t.strategy,
                                        backup_id=newest))
    return ExistingBackupsResult(found=tuple(found))


@activity.defn(name=names.PRUNE_REMOVED_SHARDS)
async def prune_removed_shards(inp: PruneRemovedShardsInput) -> PruneRemovedShardsResult:
    """Age out the schedule's backups of shards no longer in the topology (newest kept)."""
    async with Heartbeater(lambda: None):
        done = await asyncio.to_thread(
            removed_shards.prune_removed_shards, inp.destination, inp.cluster, inp.schedule,
            {(p.keyspace, p.shard) for p in inp.present}, inp.retention_days, inp.now,
            job_timeout_seconds=inp.job_timeout_seconds,
        )
    return PruneRemovedShardsResult(pruned=tuple(
        RemovedShardPruned(keyspace=d.keyspace, shard=d.shard, strategy=d.strategy,
                           deleted=tuple(d.deleted)) for d in done
    ))
