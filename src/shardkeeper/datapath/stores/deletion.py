"""Deleting a committed backup on purpose: metadata.json first, then its objects.

The order is the catalog's crash rule: once metadata.json is gone the backup is no longer
listed nor restorable, and whatever a crash leaves behind is an uncommitted prefix that its
schedule's next prune sweeps (:mod:`shardkeeper.datapath.stores.retention`).
"""

from __future__ import annotations

import structlog

from shardkeeper import naming
from shardkeeper.contracts.common import Destination
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.datapath.stores.destination import open_store
from shardkeeper.datapath.stores.protocol import Store

log = structlog.get_logger(__name__)


def delete_backup(location: Destination, manifest: BackupManifest) -> int:
    """Delete one committed backup; idempotent (a second call deletes nothing).

    Returns:
        How many objects were deleted, metadata.json included.

    Raises:
        AccessDenied, BucketMissing, EndpointUnavailable: The object store failed.
    """
    store = open_store(location)
    prefix = naming.backup_prefix(location.prefix, manifest.cluster, manifest.keyspace,
                                  manifest.shard, manifest.directory())
    keys = [key for key, _modified in store.iter_objects(prefix)]
    deleted = delete_manifest_first(store, keys, prefix + naming.MANIFEST_OBJECT)
    log.info("catalog.deleted_on_request", cluster=manifest.cluster, keyspace=manifest.keyspace,
             shard=manifest.shard, backup_id=manifest.backup_id, directory=manifest.directory(),
             objects=deleted)
    return deleted


def delete_manifest_first(store: Store, keys: list[str], manifest_key: str | None) -> int:
    """Delete one backup directory's ``keys``, its metadata.json first; how many went.

    The one deletion order of the catalog (see the module docstring), shared by retention
    and by deletes on request.
    """
    ordered = sorted(keys, key=lambda k: k != manifest_key)
    for key in ordered:
        store.delete(key)
    return len(ordered)
