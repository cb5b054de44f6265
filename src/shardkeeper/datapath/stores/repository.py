"""The repository marker: ``<prefix>/<cluster>/shardkeeper-repository.json``.

A small object ``apply`` writes beside a cluster's backups (layout version, cluster,
created-at), as restic's ``config`` and pgBackRest's ``backup.info`` do. It lets a newer
layout be refused by an older shardkeeper instead of misread, and a prefix that already
holds another cluster's repository be refused instead of mixed into; clusters still share a
prefix, each under its own directory. It sits one level above the shards, so listing,
pruning and restore never take it for a backup.
"""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, ValidationError

from shardkeeper.contracts.common import Destination
from shardkeeper.datapath.stores.destination import describe_location, open_store, root_of
from shardkeeper.errors import PermanentError

MARKER_OBJECT = "shardkeeper-repository.json"
LAYOUT_VERSION = 2
"""1: a backup's directory is its id; 2: ``<backup_id>_<schedule tag>`` (both are read)."""
KNOWN_LAYOUTS = (1, 2)


class RepositoryMismatch(PermanentError):
    """The destination holds a repository this shardkeeper must not write into."""


class RepositoryMarker(BaseModel):
    """What the marker object says."""

    model_config = ConfigDict(extra="allow")

    layout_version: int
    cluster: str
    created_at: datetime
    created_by: str = "shardkeeper"


def marker_key(location: Destination, cluster: str) -> str:
    """Key of the marker of ``cluster`` in ``location``."""
    return f"{root_of(location)}{cluster}/{MARKER_OBJECT}"


def read_marker(location: Destination, cluster: str) -> RepositoryMarker | None:
    """The marker, or None when there is none yet.

    Raises:
        RepositoryMismatch: The object is not a marker (someone else's file, or corrupt).
        AccessDenied, BucketMissing, EndpointUnavailable: The object store failed.
    """
    store = open_store(location)
    key = marker_key(location, cluster)
    if not store.exists(key):
        return None
    try:
        return RepositoryMarker.model_validate_json(store.read_bytes(key))
    except ValidationError:
        raise RepositoryMismatch(
            f"{describe_location(location)}/{cluster}/{MARKER_OBJECT} is not a shardkeeper "
            "repository marker; move it away or choose another destination prefix"
        ) from None


def check_marker(location: Destination, cluster: str, marker: RepositoryMarker | None) -> None:
    """Refuse a marker of an unknown layout or of another cluster.

    Raises:
        RepositoryMismatch: Naming the location, what the marker says and what to do.
    """
    if marker is None:
        return
    where = f"{describe_location(location)}/{cluster}/"
    if marker.layout_version not in KNOWN_LAYOUTS:
        known = ", ".join(map(str, KNOWN_LAYOUTS))
        raise RepositoryMismatch(
            f"{where} holds a repository of layout version {marker.layout_version} (written by "
            f"{marker.created_by}); this shardkeeper reads layout versions {known}: upgrade "
            "shardkeeper, or choose another destination prefix"
        )
    if marker.cluster != cluster:
        raise RepositoryMismatch(
            f"{where} is the repository of cluster {marker.cluster!r}, not {cluster!r} (marker "
            f"created {marker.created_at.isoformat()}); choose another destination prefix, or "
            "the cluster name that repository belongs to"
        )


def write_marker(location: Destination, cluster: str, now: datetime, created_by: str,
                 existing: RepositoryMarker | None) -> RepositoryMarker:
    """Write the marker when missing or of an older layout (its created-at kept)."""
    if existing is not None and existing.layout_version == LAYOUT_VERSION:
        return existing
    marker = RepositoryMarker(
        layout_version=LAYOUT_VERSION, cluster=cluster,
        created_at=existing.created_at if existing else now, created_by=created_by,
    )
    body = json.dumps(marker.model_dump(mode="json"), sort_keys=True, indent=2) + "\n"
    open_store(location).put_bytes(marker_key(location, cluster), body.encode(),
                                   "application/json")
    return marker
