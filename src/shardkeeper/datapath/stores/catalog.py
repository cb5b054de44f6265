"""The backup catalog as it exists in the store: manifests and listing.

This module owns the commit record (metadata.json) on the wire and the rule that only a
prefix with metadata.json is a backup. It works on any destination (S3 or a filesystem,
through :mod:`shardkeeper.datapath.stores.protocol`); it never talks to Temporal and never
moves backup payload bytes. Retention (which backups are deleted) is ``retention.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import structlog
from pydantic import ValidationError

from shardkeeper import naming
from shardkeeper.contracts.common import Destination
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.datapath.stores.destination import open_store, root_of
from shardkeeper.datapath.stores.protocol import Store
from shardkeeper.errors import BackupIncomplete

log = structlog.get_logger(__name__)

_READ_WORKERS = 8


def put_manifest(location: Destination, manifest: BackupManifest) -> str:
    """Write ``manifest`` as the backup's metadata.json (sorted keys, indent 2).

    Idempotent: the same manifest always lands at the same key with the same bytes.

    Returns:
        The key written.

    Raises:
        AccessDenied, BucketMissing, EndpointUnavailable: The object store failed.
    """
    key = naming.manifest_key(
        location.prefix, manifest.cluster, manifest.keyspace, manifest.shard,
        manifest.directory(),
    )
    body = json.dumps(manifest.model_dump(mode="json"), sort_keys=True, indent=2) + "\n"
    open_store(location).put_bytes(key, body.encode("utf-8"), "application/json")
    return key


def read_manifest(location: Destination, key: str) -> BackupManifest:
    """Read one metadata.json.

    Raises:
        BackupNotFound: No object at ``key``.
        BackupIncomplete: The object is not a valid manifest.
        AccessDenied, BucketMissing, EndpointUnavailable: The object store failed.
    """
    return manifest_in(open_store(location), key)


def manifest_in(store: Store, key: str) -> BackupManifest:
    """Read one metadata.json from an open store (as :func:`read_manifest`)."""
    body = store.read_bytes(key)
    try:
        return BackupManifest.model_validate_json(body)
    except ValidationError as exc:
        raise BackupIncomplete(
            f"{key} in {store.describe()} is not a valid backup manifest "
            f"({exc.error_count()} errors)"
        ) from None


def _objects(store: Store, prefix: str) -> Iterator[tuple[str, datetime]]:
    """(key, last modified) of every complete object under ``prefix``."""
    return store.iter_objects(prefix)


def list_backups(
    location: Destination,
    cluster: str | None = None,
    keyspace: str | None = None,
    shard: str | None = None,
) -> list[BackupManifest]:
    """Committed backups (those with metadata.json) under ``location``, optionally filtered.

    Layout: ``<prefix>/<cluster>/<keyspace>/<shard>/<directory>/metadata.json``, the
    directory being the backup id (old layout) or ``<backup_id>_<schedule tag>``; directories
    starting with ``_`` (the cleanup records) are not backups. Prefixes without metadata.json
    are garbage and never listed; an unreadable manifest is logged and skipped.

    Returns:
        Manifests sorted by cluster, keyspace, shard, backup_id, strategy, schedule.

    Raises:
        AccessDenied, BucketMissing, EndpointUnavailable: The object store failed.
    """
    root = root_of(location)
    narrowest = [cluster]
    if cluster is not None:
        narrowest.append(keyspace)
        if keyspace is not None:
            narrowest.append(shard)
    listed = root + "".join(f"{part}/" for part in narrowest if part is not None)
    wanted = (cluster, keyspace, shard)
    store = open_store(location)
    keys: list[str] = []
    for key, _modified in _objects(store, listed):
        parts = key[len(root) :].split("/")
        if len(parts) != 5 or parts[4] != naming.MANIFEST_OBJECT or (
            naming.is_side_record_dir(parts[3])
        ):
            continue
        if any(want is not None and want != got for want, got in zip(wanted, parts, strict=False)):
            continue
        keys.append(key)

    def read(key: str) -> BackupManifest | None:
        try:
            return manifest_in(store, key)
        except BackupIncomplete as exc:
            log.warning("catalog.manifest_unreadable", key=key, error=str(exc))
            return None

    with ThreadPoolExecutor(_READ_WORKERS, thread_name_prefix="sk-catalog") as pool:
        manifests = [m for m in pool.map(read, keys) if m is not None]
    return sorted(manifests, key=lambda m: (
        m.cluster, m.keyspace, m.shard, m.backup_id, m.strategy or "", m.schedule or ""
    ))


def backup_directories(location: Destination, cluster: str, keyspace: str | None = None,
                       shard: str | None = None, *, committed_only: bool = False,
                       ) -> list[tuple[str, str, str]]:
    """Backup directories under ``cluster`` (or one keyspace, or one shard), by key only.

    ``(keyspace, shard, directory)``, sorted; one listing, no manifest read. With
    ``committed_only``, only those holding metadata.json; side records (``_cleanup``,
    ``_verify``) never count.

    Raises:
        AccessDenied, BucketMissing, EndpointUnavailable: The object store failed.
    """
    base = root_of(location) + f"{cluster}/"
    listed = base + (f"{keyspace}/" + (f"{shard}/" if shard is not None else "")
                     if keyspace is not None else "")
    found: set[tuple[str, str, str]] = set()
    for key, _modified in _objects(open_store(location), listed):
        parts = key[len(base):].split("/")
        if len(parts) != 4 or naming.is_side_record_dir(parts[2]):
            continue
        if not committed_only or parts[3] == naming.MANIFEST_OBJECT:
            found.add((parts[0], parts[1], parts[2]))
    return sorted(found)


def shard_directories(location: Destination, cluster: str) -> dict[tuple[str, str], set[str]]:
    """Committed backup directories of every shard of ``cluster`` in the store, by shard.

    What a run needs to know which shards exist in the store and which (schedule,
    strategy) tags they hold (the directory ``<backup_id>_<tag>`` names its pair).
    """
    found: dict[tuple[str, str], set[str]] = {}
    for keyspace, shard, directory in backup_directories(location, cluster,
                                                         committed_only=True):
        found.setdefault((keyspace, shard), set()).add(directory)
    return found


def newest_of_pair(directories: set[str], schedule: str, strategy: str) -> str | None:
    """Newest backup id among ``directories`` that carries (schedule, strategy)'s tag."""
    tag = naming.schedule_tag(schedule, strategy)
    ids = [bid for bid, t in map(naming.split_backup_dir, directories) if t == tag]
    return max(ids) if ids else None
