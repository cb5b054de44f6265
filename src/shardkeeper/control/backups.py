"""Backups as the object store knows them (never Temporal): list and render."""

from __future__ import annotations

from collections.abc import Sequence

from shardkeeper.contracts.common import Destination, FilesystemLocation
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.datapath.stores import catalog
from shardkeeper.errors import SpecInvalid
from shardkeeper.spec.convert import destination_of
from shardkeeper.spec.load import SpecSet
from shardkeeper.spec.schedule import BackupSchedule


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


def schedule_locations(specs: SpecSet) -> list[Destination]:
    """The destination of every BackupSchedule in ``specs`` (where its backups are listed).

    Raises:
        SpecInvalid: No BackupSchedule names a destination.
    """
    locations = [destination_of(s.resource.spec.destination) for s in specs.schedules
                 if isinstance(s.resource, BackupSchedule)]
    if not locations:
        raise SpecInvalid("no BackupSchedule in the given files names a destination")
    return locations
