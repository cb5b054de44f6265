"""Inputs and results of the run-level catalog activities: first backups, removed shards.

Both are read by ``BackupRun`` when it starts or ends, from the store itself (decided at run
time, never at apply).
"""

from __future__ import annotations

from datetime import datetime

from shardkeeper.contracts.base import Contract
from shardkeeper.contracts.common import Destination


class ShardRef(Contract):
    """One shard of the cluster."""

    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""


class ShardPair(ShardRef):
    """One shard as one strategy covers it."""

    strategy: str
    """Name of the strategy that covers the shard."""


class ExistingBackupsInput(Contract):
    """Input of ``existing_backups``: which of these shards already have a backup."""

    destination: Destination
    """Where the schedule's backups are stored."""
    cluster: str
    """Cluster name."""
    schedule: str
    """Schedule whose own committed backups count."""
    targets: tuple[ShardPair, ...]
    """The shards the run would back up, each with its strategy."""


class ExistingBackup(Contract):
    """A target that has a committed backup of the schedule and strategy."""

    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    strategy: str
    """Strategy name."""
    backup_id: str
    """Id of the newest such backup."""


class ExistingBackupsResult(Contract):
    """The targets that have a committed backup of their (schedule, strategy)."""

    found: tuple[ExistingBackup, ...] = ()
    """One entry per target that has one; targets without are absent."""


class PruneRemovedShardsInput(Contract):
    """Input of ``prune_removed_shards``: age out a schedule's backups of removed shards."""

    destination: Destination
    """Where the schedule's backups are stored."""
    cluster: str
    """Cluster name."""
    schedule: str
    """Schedule whose own backups are pruned (others' and manual ones never are)."""
    present: tuple[ShardRef, ...]
    """Every shard of the topology as the run read it: left to their own shard backups'
    prunes."""
    retention_days: int
    """The schedule's ``retentionDays``; ``keepLast`` does not apply to a removed shard."""
    now: datetime
    """The workflow's time, so pruning is reproducible."""
    job_timeout_seconds: int | None = None
    """The schedule's job timeout: how long its own open uploads may still be running."""


class RemovedShardPruned(Contract):
    """What the prune did on one removed shard for one strategy."""

    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    strategy: str
    """Strategy name."""
    deleted: tuple[str, ...] = ()
    """Ids of the backups removed, sorted."""


class PruneRemovedShardsResult(Contract):
    """Result of ``prune_removed_shards``."""

    pruned: tuple[RemovedShardPruned, ...] = ()
    """One entry per (removed shard, strategy) of the schedule found in the store."""
