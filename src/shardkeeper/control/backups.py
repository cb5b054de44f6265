"""Backups as the object store knows them (never Temporal): list and render."""

from __future__ import annotations

from collections.abc import Sequence

from shardkeeper.contracts.common import Destination, FilesystemLocation
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.datapath import catalog


def _where(location: Destination) -> tuple[str, str]:
    """What tells two locations apart when the same backup is listed through both."""
    if isinstance(location, FilesystemLocation):
        return ("filesystem", location.path.rstrip("/"))
    return ("s3", location.bucket)


def list_backups(
    locations: Sequence[Destination], cluster: str | None = None
) -> list[BackupManifest]:
    """Committed backups (those with metadata.json) under every location, deduplicated."""
    seen: dict[tuple[tuple[str, str], str], BackupManifest] = {}
    for loc in locations:
        for m in catalog.list_backups(loc, cluster):
            seen[(_where(loc), m.object_key)] = m
    return sorted(seen.values(), key=lambda m: (m.cluster, m.keyspace, m.shard, m.backup_id))
