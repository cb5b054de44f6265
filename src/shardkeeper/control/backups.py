"""Backups as the object store knows them (never Temporal): list, plan a prune, delete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shardkeeper.contracts.common import Destination, FilesystemLocation
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.datapath.stores import catalog, checks, deletion, retention
from shardkeeper.errors import BackupNotFound, SpecInvalid
from shardkeeper.spec.convert import destination_of, policy_of
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


def last_verdicts(locations: Sequence[Destination],
                  manifests: Sequence[BackupManifest]) -> dict[str, str]:
    """``backups list``'s verification column, by object key.

    ``passed <time>`` or ``FAILED <checks> <time>``, from the last ``backups verify`` of
    each backup; backups never verified are absent.
    """
    by_shard: dict[tuple[str, str, str], list[BackupManifest]] = {}
    for m in manifests:
        by_shard.setdefault((m.cluster, m.keyspace, m.shard), []).append(m)
    found: dict[str, str] = {}
    for loc in locations:
        for (cluster, keyspace, shard), listed in sorted(by_shard.items()):
            records = checks.verify_records(loc, cluster, keyspace, shard)
            for m in listed:
                r = records.get(m.directory())
                if r is not None:
                    when = r.time.strftime("%Y-%m-%dT%H:%M:%SZ")
                    found[m.object_key] = (f"passed {when}" if r.result == "passed" else
                                           f"FAILED {','.join(r.failed_checks())} {when}")
    return found


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


def prune_plans(
    specs: SpecSet, now: datetime, cluster: str | None = None, schedule: str | None = None
) -> list[dict[str, str]]:
    """What each schedule's next prune would delete, sweep, abort and keep, and why.

    One plan per (schedule, strategy) and stored shard: the shards are those holding a backup
    of the schedule (so shards a reshard removed are included); nothing is deleted.

    Raises:
        SpecInvalid: No BackupSchedule in ``specs`` matches.
        AccessDenied, BucketMissing, EndpointUnavailable: The object store failed.
    """
    chosen = [s.resource for s in specs.schedules if isinstance(s.resource, BackupSchedule)
              and (cluster is None or s.resource.spec.cluster == cluster)
              and (schedule is None or s.resource.metadata.name == schedule)]
    if not chosen:
        raise SpecInvalid("no BackupSchedule in the given files matches "
                          f"(cluster {cluster or 'any'}, schedule {schedule or 'any'})")
    rows: list[dict[str, str]] = []
    for doc in chosen:
        name, policy = doc.metadata.name, policy_of(doc.spec)
        stored = catalog.list_backups(policy.destination, doc.spec.cluster)
        targets = sorted({(m.keyspace, m.shard, m.strategy) for m in stored
                          if m.schedule == name and not m.is_manual()}, key=str)
        for keyspace, shard, strategy in targets:
            plan = retention.plan_shard(
                policy.destination, doc.spec.cluster, keyspace, shard,
                retention.Policy(name, strategy, policy.retention.keep_last,
                                 policy.retention.retention_days,
                                 job_timeout_seconds=policy.job_timeout_seconds),
                now,
            )
            for action, items in (("delete", plan.delete), ("sweep", plan.garbage),
                                  ("abort-upload", plan.abort), ("keep", plan.keep)):
                rows += [{"cluster": doc.spec.cluster, "schedule": name,
                          "strategy": strategy or "-", "keyspace": keyspace, "shard": shard,
                          "action": action, "backup_id": d.backup_id, "reason": d.reason}
                         for d in items]
    return rows


@dataclass(frozen=True)
class Doomed:
    """A committed backup a ``delete backup`` matched, and where it is."""

    location: Destination
    manifest: BackupManifest
    newest: bool
    """The newest verified backup of its shard in that location (deleted only with force)."""


@dataclass(frozen=True)
class Selector:
    """What ``delete backup`` is asked to delete: an id (or directory) and narrowing filters."""

    backup: str
    cluster: str | None = None
    keyspace: str | None = None
    shard: str | None = None
    schedule: str | None = None
    strategy: str | None = None

    def matches(self, m: BackupManifest) -> bool:
        """Whether ``m`` is among the backups meant."""
        wanted = ((self.cluster, m.cluster), (self.keyspace, m.keyspace),
                  (self.shard, m.shard), (self.schedule, m.schedule),
                  (self.strategy, m.strategy))
        return self.backup in (m.backup_id, m.directory()) and all(
            want is None or want == got for want, got in wanted)


def select_for_delete(locations: Sequence[Destination], selector: Selector) -> list[Doomed]:
    """The committed backups ``selector`` names, each marked if it is its shard's newest.

    Raises:
        BackupNotFound: Nothing matches (naming what was looked for and where).
        AccessDenied, BucketMissing, EndpointUnavailable: The object store failed.
    """
    found: dict[tuple[tuple[str, str], str], Doomed] = {}
    for loc in locations:
        stored = catalog.list_backups(loc, selector.cluster)
        newest: dict[tuple[str, str, str], BackupManifest] = {}
        for m in stored:
            shard = (m.cluster, m.keyspace, m.shard)
            if shard not in newest or (m.finished_at, m.backup_id) > (
                    newest[shard].finished_at, newest[shard].backup_id):
                newest[shard] = m
        for m in stored:
            if selector.matches(m):
                top = newest[(m.cluster, m.keyspace, m.shard)]
                found[(_where(loc), m.object_key)] = Doomed(loc, m, top.object_key == m.object_key)
    if not found:
        scope = "/".join(p for p in (selector.keyspace, selector.shard) if p) or "any shard"
        raise BackupNotFound(
            f"no committed backup {selector.backup!r} ({scope}, cluster "
            f"{selector.cluster or 'any'}) in the destinations of the given files; "
            "`shardkeeper backups list -f ...` lists them"
        )
    return sorted(found.values(), key=lambda d: (d.manifest.cluster, d.manifest.keyspace,
                                                 d.manifest.shard, d.manifest.directory()))


def delete_backups(doomed: Sequence[Doomed], *, force: bool) -> list[tuple[Doomed, int]]:
    """Delete the selected backups; refuse all of them if one is its shard's newest.

    Returns:
        Each backup deleted with how many objects went.

    Raises:
        SpecInvalid: One is its shard's newest verified backup and ``force`` is False
            (nothing is deleted then).
    """
    newest = [d for d in doomed if d.newest]
    if newest and not force:
        names = ", ".join(f"{d.manifest.keyspace}/{d.manifest.shard} "
                          f"{d.manifest.directory()}" for d in newest)
        raise SpecInvalid(
            f"refusing to delete the newest verified backup of its shard ({names}): it is the "
            "latest restore point; pass --force to delete it anyway (nothing was deleted)"
        )
    return [(d, deletion.delete_backup(d.location, d.manifest)) for d in doomed]
