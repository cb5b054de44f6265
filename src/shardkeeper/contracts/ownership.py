"""Keyspace ownership across a cluster's schedules, decided when a run starts.

A Keyspace-scope strategy takes its keyspace out of every Cluster-scope strategy of the same
cluster (seed 000). The ``keyspace_owners`` activity reads the owners from the cluster's
Temporal Schedules as they exist when a run starts, so applying one file at a time, pausing
or deleting a schedule changes the next run of every other schedule without a re-apply.
"""

from __future__ import annotations

from shardkeeper.contracts.base import Contract


class KeyspaceOwnersInput(Contract):
    """Input of ``keyspace_owners``."""

    cluster: str
    """Cluster whose schedules (ids ``shardkeeper/<cluster>/<name>``) are read."""


class KeyspaceOwner(Contract):
    """A Keyspace-scope strategy of an active (not paused) schedule."""

    keyspace: str
    """The keyspace the strategy owns."""
    schedule: str
    """Name of the schedule the strategy belongs to."""
    strategy: str
    """Name of the Keyspace-scope strategy."""


class KeyspaceOwnersResult(Contract):
    """The cluster's keyspace owners now, and the schedules passed over."""

    owners: tuple[KeyspaceOwner, ...] = ()
    """Owners, sorted by keyspace, schedule and strategy."""
    paused: tuple[str, ...] = ()
    """Schedules of the cluster that are paused (suspended) and so own nothing, sorted."""
    unreadable: tuple[str, ...] = ()
    """Schedules whose action is not a BackupRun input this worker can read, sorted."""
