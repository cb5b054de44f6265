"""Backups as the object store knows them (never Temporal): list and render."""

from __future__ import annotations

from shardkeeper.contracts.common import S3Location
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.datapath import catalog


def list_backups(locations: list[S3Location], cluster: str | None = None) -> list[BackupManifest]:
    """Committed backups (those with metadata.json) under every location, deduplicated."""
    seen: dict[tuple[str, str], BackupManifest] = {}
    for loc in locations:
        for m in catalog.list_backups(loc, cluster):
            seen[(loc.bucket, m.object_key)] = m
    return sorted(seen.values(), key=lambda m: (m.cluster, m.keyspace, m.shard, m.backup_id))
