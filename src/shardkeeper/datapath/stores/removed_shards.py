"""Retention of shards a reshard removed: their backups age out, the newest of each stays.

A removed shard takes no new backup, so no shard backup ever prunes it; the run of each
schedule does, once its shard backups are done (``BackupRun``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shardkeeper.contracts.common import Destination
from shardkeeper.datapath.stores.catalog import list_backups, shard_directories
from shardkeeper.datapath.stores.retention import prune_backups


@dataclass(frozen=True)
class RemovedShardPrune:
    """What one (schedule, strategy)'s prune did on a shard the topology no longer has."""

    keyspace: str
    shard: str
    strategy: str
    deleted: list[str]


def prune_removed_shards(
    location: Destination,
    cluster: str,
    schedule: str,
    present: set[tuple[str, str]],
    retention_days: int,
    now: datetime,
    *,
    job_timeout_seconds: int | None = None,
) -> list[RemovedShardPrune]:
    """Age out one schedule's backups of shards that are gone from the topology (a reshard).

    Such a shard takes no new backup, so no shard backup prunes it. Each of its (schedule,
    strategy) pairs is pruned here under ``retention_days`` alone: ``keepLast`` counts a live
    shard's recent backups and would keep a dead shard's forever. The newest of each pair is
    kept, as always (the last copy of data that existed). Other schedules' and manual
    backups stay, as in every prune.

    Raises:
        AccessDenied, BucketMissing, EndpointUnavailable: The object store failed.
    """
    results: list[RemovedShardPrune] = []
    for (keyspace, shard) in sorted(shard_directories(location, cluster)):
        if (keyspace, shard) in present:
            continue
        strategies = sorted({m.strategy for m in list_backups(location, cluster, keyspace, shard)
                             if m.schedule == schedule and m.strategy and not m.is_manual()})
        for strategy in strategies:
            deleted, _aborted = prune_backups(
                location, cluster, keyspace, shard, None, retention_days, now,
                schedule=schedule, strategy=strategy, job_timeout_seconds=job_timeout_seconds,
            )
            results.append(RemovedShardPrune(keyspace, shard, strategy, deleted))
    return results
