"""Backups as the object store knows them (never Temporal): list, render, plan a prune."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shardkeeper.contracts.common import Destination, FilesystemLocation
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.datapath.stores import catalog, retention
from shardkeeper.errors import SpecInvalid
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
