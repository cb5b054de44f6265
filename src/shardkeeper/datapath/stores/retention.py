"""Retention: which committed backups, garbage prefixes and open uploads of a shard go.

This module owns the retention rules of one shard (``prune_backups``) on any destination.
Deletion order is what keeps the catalog consistent under crashes: metadata.json goes first,
so a half-deleted backup is garbage (unlisted, swept later), never a listed backup whose
stream is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from shardkeeper import naming
from shardkeeper.contracts.common import Destination
from shardkeeper.datapath.stores.catalog import manifest_in
from shardkeeper.datapath.stores.destination import open_store
from shardkeeper.datapath.stores.protocol import Store
from shardkeeper.errors import BackupIncomplete

log = structlog.get_logger(__name__)

# A prefix newer than the newest committed backup may be an upload still running or being
# verified (a multi-TB stream takes hours, and S3 dates a multipart object by its initiation).
# Such prefixes and their uploads get at least this long before they count as garbage.
IN_PROGRESS_GRACE_SECONDS = 24 * 3600


@dataclass
class _Prefix:
    """Everything stored under one ``<shard>/<backup_id>/``."""

    backup_id: str
    keys: list[str] = field(default_factory=list)
    newest: datetime | None = None
    manifest_key: str | None = None


@dataclass(frozen=True)
class _Cutoffs:
    """Before when an uncommitted prefix or upload is garbage."""

    newest_id: str | None
    garbage: datetime
    in_progress: datetime

    def stale(self, backup_id: str, newest: datetime) -> bool:
        """Whether something of ``backup_id`` last written at ``newest`` is garbage."""
        maybe_running = self.newest_id is None or backup_id > self.newest_id
        return newest < (self.in_progress if maybe_running else self.garbage)


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
    prefixes = _prefixes(store, base)
    committed = [p for p in prefixes.values() if p.manifest_key is not None]
    finished = {p.backup_id: _finished_at(store, p) for p in committed}
    committed.sort(key=lambda p: (finished[p.backup_id], p.backup_id), reverse=True)
    deleted = _expire(store, committed, finished, keep_last, now - timedelta(days=retention_days))
    cutoffs = _Cutoffs(
        newest_id=committed[0].backup_id if committed else None,
        garbage=now - timedelta(seconds=garbage_grace_seconds),
        in_progress=now - timedelta(seconds=max(garbage_grace_seconds, IN_PROGRESS_GRACE_SECONDS)),
    )
    for entry in prefixes.values():
        if entry.manifest_key is not None or entry.newest is None:
            continue
        if cutoffs.stale(entry.backup_id, entry.newest):
            _delete_prefix(store, entry)
            deleted.append(entry.backup_id)

    def stale(key: str, initiated: datetime | None) -> bool:
        backup_id = key[len(base) :].partition("/")[0]
        return initiated is not None and cutoffs.stale(backup_id, initiated)

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


def _prefixes(store: Store, base: str) -> dict[str, _Prefix]:
    """The backup prefixes under one shard's ``base``, with their keys and newest date."""
    prefixes: dict[str, _Prefix] = {}
    for key, modified in store.iter_objects(base):
        backup_id, sep, rest = key[len(base) :].partition("/")
        if not sep:
            continue  # a stray object directly under the shard: not ours to judge
        entry = prefixes.setdefault(backup_id, _Prefix(backup_id))
        entry.keys.append(key)
        entry.newest = modified if entry.newest is None else max(entry.newest, modified)
        if rest == naming.MANIFEST_OBJECT:
            entry.manifest_key = key
    return prefixes


def _expire(
    store: Store,
    committed: list[_Prefix],
    finished: dict[str, datetime],
    keep_last: int | None,
    cutoff: datetime,
) -> list[str]:
    """Delete the committed backups (newest first in ``committed``) no rule keeps."""
    deleted: list[str] = []
    for rank, entry in enumerate(committed):
        if rank == 0:
            continue  # never the newest committed backup
        too_old = finished[entry.backup_id] < cutoff
        kept_by_count = keep_last is not None and rank < keep_last
        if too_old and not kept_by_count:
            _delete_prefix(store, entry)
            deleted.append(entry.backup_id)
    return deleted


def _finished_at(store: Store, entry: _Prefix) -> datetime:
    """When a committed backup finished: its manifest, else metadata.json's date."""
    if entry.manifest_key is None or entry.newest is None:  # pragma: no cover - committed only
        raise ValueError("not a committed backup")
    try:
        finished = manifest_in(store, entry.manifest_key).finished_at
    except BackupIncomplete:
        return entry.newest
    return finished if finished.tzinfo else finished.replace(tzinfo=UTC)


def _delete_prefix(store: Store, entry: _Prefix) -> None:
    """Delete one backup prefix, metadata.json first."""
    ordered = sorted(entry.keys, key=lambda k: k != entry.manifest_key)
    for key in ordered:
        store.delete(key)
    log.info("catalog.deleted", backup_id=entry.backup_id, objects=len(ordered))
