"""The backup catalog as it exists in the store: manifests, listing and retention.

This module owns the commit record (metadata.json) on the wire, the rule that only a prefix
with metadata.json is a backup, and retention: which committed backups, garbage prefixes
and open uploads of a shard are deleted. It works on any destination (S3 or a filesystem,
through :mod:`shardkeeper.datapath.store`); it never talks to Temporal and never moves
backup payload bytes.

Deletion order is what keeps the catalog consistent under crashes: metadata.json goes first,
so a half-deleted backup is garbage (unlisted, swept later), never a listed backup whose
stream is missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from pydantic import ValidationError

from shardkeeper import naming
from shardkeeper.contracts.common import Destination
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.datapath.store import Store, open_store, root_of
from shardkeeper.errors import BackupIncomplete

log = structlog.get_logger(__name__)

_READ_WORKERS = 8
# A prefix newer than the newest committed backup may be an upload still running or being
# verified (a multi-TB stream takes hours, and S3 dates a multipart object by its initiation).
# Such prefixes and their uploads get at least this long before they count as garbage.
IN_PROGRESS_GRACE_SECONDS = 24 * 3600


def put_manifest(location: Destination, manifest: BackupManifest) -> str:
    """Write ``manifest`` as the backup's metadata.json (sorted keys, indent 2).

    Idempotent: the same manifest always lands at the same key with the same bytes.

    Returns:
        The key written.

    Raises:
        AccessDenied, BucketMissing, EndpointUnavailable: The object store failed.
    """
    key = naming.manifest_key(
        location.prefix, manifest.cluster, manifest.keyspace, manifest.shard, manifest.backup_id
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
    return _read_manifest(open_store(location), key)


def _read_manifest(store: Store, key: str) -> BackupManifest:
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

    Layout: ``<prefix>/<cluster>/<keyspace>/<shard>/<backup_id>/metadata.json``. Prefixes
    without metadata.json are garbage and never listed; an unreadable manifest is logged and
    skipped.

    Returns:
        Manifests sorted by cluster, keyspace, shard, backup_id.

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
        if len(parts) != 5 or parts[4] != naming.MANIFEST_OBJECT:
            continue
        if any(want is not None and want != got for want, got in zip(wanted, parts, strict=False)):
            continue
        keys.append(key)

    def read(key: str) -> BackupManifest | None:
        try:
            return _read_manifest(store, key)
        except BackupIncomplete as exc:
            log.warning("catalog.manifest_unreadable", key=key, error=str(exc))
            return None

    with ThreadPoolExecutor(_READ_WORKERS, thread_name_prefix="sk-catalog") as pool:
        manifests = [m for m in pool.map(read, keys) if m is not None]
    return sorted(manifests, key=lambda m: (m.cluster, m.keyspace, m.shard, m.backup_id))


@dataclass
class _Prefix:
    """Everything stored under one ``<shard>/<backup_id>/``."""

    backup_id: str
    keys: list[str] = field(default_factory=list)
    newest: datetime | None = None
    manifest_key: str | None = None


def prune_backups(
    location: Destination,
    cluster: str,
    keyspace: str,
    shard: str,
    keep_last: int | None,
    retention_days: int,
    now: datetime,
    garbage_grace_seconds: int = 3600,
) -> tuple[list[str], int]:
    """Apply retention to one shard.

    * A committed backup is deleted when it finished more than ``retention_days`` ago and,
      when ``keep_last`` is set, it is not among the ``keep_last`` newest: like restic's
      ``--keep-within`` with ``--keep-last``, a backup survives if any rule keeps it. The
      newest committed backup is never deleted, whatever the policy says (a schedule that has
      been failing for weeks must not leave the shard with nothing).
    * A prefix without metadata.json (garbage) is deleted once its newest object is older
      than ``garbage_grace_seconds``; at least ``IN_PROGRESS_GRACE_SECONDS`` if its id sorts
      after the newest committed backup, since it may be an upload still being verified.
    * Open multipart uploads under the shard older than the same grace are aborted.

    Args:
        location: Bucket, prefix and credentials.
        cluster: Cluster name.
        keyspace: Keyspace name.
        shard: Shard name.
        keep_last: Always keep this many newest committed backups, whatever their age.
        retention_days: Keep committed backups younger than this many days.
        now: The current time (timezone-aware; the workflow passes its deterministic now).
        garbage_grace_seconds: Age before an uncommitted prefix or upload is garbage.

    Returns:
        (deleted backup ids, committed or garbage, sorted; number of aborted uploads).

    Raises:
        AccessDenied, BucketMissing, EndpointUnavailable: The object store failed.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)  # S3 dates are aware; a naive now is taken as UTC
    store = open_store(location)
    base = naming.shard_prefix(location.prefix, cluster, keyspace, shard)
    prefixes: dict[str, _Prefix] = {}
    for key, modified in _objects(store, base):
        backup_id, sep, rest = key[len(base) :].partition("/")
        if not sep:
            continue  # a stray object directly under the shard: not ours to judge
        entry = prefixes.setdefault(backup_id, _Prefix(backup_id))
        entry.keys.append(key)
        entry.newest = modified if entry.newest is None else max(entry.newest, modified)
        if rest == naming.MANIFEST_OBJECT:
            entry.manifest_key = key

    committed = [p for p in prefixes.values() if p.manifest_key is not None]
    finished = {p.backup_id: _finished_at(store, p) for p in committed}
    committed.sort(key=lambda p: (finished[p.backup_id], p.backup_id), reverse=True)
    newest_id = committed[0].backup_id if committed else None

    deleted: list[str] = []
    cutoff = now - timedelta(days=retention_days)
    for rank, entry in enumerate(committed):
        if rank == 0:
            continue  # never the newest committed backup
        too_old = finished[entry.backup_id] < cutoff
        kept_by_count = keep_last is not None and rank < keep_last
        if too_old and not kept_by_count:
            _delete_prefix(store, entry)
            deleted.append(entry.backup_id)

    garbage_cutoff = now - timedelta(seconds=garbage_grace_seconds)
    in_progress_cutoff = now - timedelta(
        seconds=max(garbage_grace_seconds, IN_PROGRESS_GRACE_SECONDS)
    )
    for entry in prefixes.values():
        if entry.manifest_key is not None or entry.newest is None:
            continue
        maybe_running = newest_id is None or entry.backup_id > newest_id
        if entry.newest < (in_progress_cutoff if maybe_running else garbage_cutoff):
            _delete_prefix(store, entry)
            deleted.append(entry.backup_id)

    def stale(key: str, initiated: datetime | None) -> bool:
        backup_id = key[len(base) :].partition("/")[0]
        maybe_running = newest_id is None or backup_id > newest_id
        cutoff = in_progress_cutoff if maybe_running else garbage_cutoff
        return initiated is not None and initiated < cutoff

    aborted = store.abort_uploads(base, select=stale)
    log.info(
        "catalog.pruned",
        cluster=cluster,
        keyspace=keyspace,
        shard=shard,
        deleted=sorted(deleted),
        aborted_uploads=aborted,
        kept=[p.backup_id for p in committed if p.backup_id not in deleted],
    )
    return sorted(deleted), aborted


def _finished_at(store: Store, entry: _Prefix) -> datetime:
    """When a committed backup finished: its manifest, else metadata.json's date."""
    if entry.manifest_key is None or entry.newest is None:  # pragma: no cover - committed only
        raise ValueError("not a committed backup")
    try:
        finished = _read_manifest(store, entry.manifest_key).finished_at
    except BackupIncomplete:
        return entry.newest
    return finished if finished.tzinfo else finished.replace(tzinfo=UTC)


def _delete_prefix(store: Store, entry: _Prefix) -> None:
    """Delete one backup prefix, metadata.json first."""
    ordered = sorted(entry.keys, key=lambda k: k != entry.manifest_key)
    for key in ordered:
        store.delete(key)
    log.info("catalog.deleted", backup_id=entry.backup_id, objects=len(ordered))
