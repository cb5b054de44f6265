"""Retention: which committed backups, garbage prefixes and open uploads of a shard go.

Retention is per (schedule, strategy), never across: a prune applies one schedule's rules to
that schedule's own backups only (matched by the ``schedule``/``strategy`` its metadata.json
records), never touches another schedule's backups or leftovers, and never deletes a manual
backup (kept until deleted). :func:`plan_prune` is the pure decision; :func:`prune_backups`
and :func:`plan_shard` are the I/O around it. Deletion order is what keeps the catalog
consistent under crashes: metadata.json goes first, so a half-deleted backup is garbage
(unlisted, swept later), never a listed backup whose stream is missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from shardkeeper import naming
from shardkeeper.contracts.common import Destination
from shardkeeper.datapath.stores import checks
from shardkeeper.datapath.stores.catalog import manifest_in
from shardkeeper.datapath.stores.deletion import delete_manifest_first
from shardkeeper.datapath.stores.destination import open_store
from shardkeeper.datapath.stores.protocol import Store
from shardkeeper.errors import BackupIncomplete

log = structlog.get_logger(__name__)

# A prefix newer than the newest committed backup may be an upload still running or being
# verified (a multi-TB stream takes hours, and S3 dates a multipart object by its initiation).
# Such prefixes and their uploads get at least this long before they count as garbage.
IN_PROGRESS_GRACE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Committed:
    """One committed backup of the shard, as its metadata.json describes it."""

    directory: str
    backup_id: str
    schedule: str | None
    strategy: str | None
    manual: bool
    finished_at: datetime
    verify_failed: bool = False
    """Its last ``backups verify`` failed: never the newest verified, never counted in
    keepLast, kept only while younger than retentionDays (for inspection)."""


@dataclass(frozen=True)
class Leftover:
    """An uncommitted backup prefix (``key`` None) or an open multipart upload (its key)."""

    directory: str
    written: datetime
    key: str | None = None


@dataclass(frozen=True)
class Policy:
    """The rules of one (schedule, strategy); both None: backups taken outside a schedule."""

    schedule: str | None
    strategy: str | None
    keep_last: int | None
    retention_days: int
    garbage_grace_seconds: int = 3600
    job_timeout_seconds: int | None = None

    @property
    def tag(self) -> str | None:
        """The directory tag of this pair's backups; None for the layout before tags."""
        if self.schedule is None and self.strategy is None:
            return None
        return naming.schedule_tag(self.schedule, self.strategy)

    @property
    def in_progress_grace(self) -> timedelta:
        """How long something of this pair that may still be running is left alone.

        An open upload is always possibly running: a backup cannot outlive its job timeout
        (plus the garbage grace for verification), and without one, the 24 h default.
        """
        if self.job_timeout_seconds:
            return timedelta(seconds=self.job_timeout_seconds + self.garbage_grace_seconds)
        return timedelta(seconds=max(self.garbage_grace_seconds, IN_PROGRESS_GRACE_SECONDS))


@dataclass(frozen=True)
class Decision:
    """One backup or leftover and what the plan does with it, and why."""

    directory: str
    backup_id: str
    reason: str
    key: str | None = None


@dataclass
class Plan:
    """What a prune deletes (committed backups), sweeps (garbage), aborts and keeps."""

    delete: list[Decision] = field(default_factory=list)
    garbage: list[Decision] = field(default_factory=list)
    abort: list[Decision] = field(default_factory=list)
    keep: list[Decision] = field(default_factory=list)

    def deleted_ids(self) -> list[str]:
        """Ids of the committed and garbage backups deleted, sorted."""
        return sorted(d.backup_id for d in self.delete + self.garbage)

    def to_json(self) -> dict[str, object]:
        """The plan as JSON-ready lists of ``{backup_id, directory, reason}``."""
        def rows(items: list[Decision]) -> list[dict[str, str]]:
            return [{"backup_id": d.backup_id, "directory": d.directory, "reason": d.reason}
                    | ({"key": d.key} if d.key else {}) for d in items]
        return {"deleted": rows(self.delete), "garbage": rows(self.garbage),
                "aborted_uploads": rows(self.abort), "kept": rows(self.keep)}


def plan_prune(
    committed: Iterable[Committed],
    garbage: Iterable[Leftover],
    uploads: Iterable[Leftover],
    policy: Policy,
    now: datetime,
) -> Plan:
    """Decide what one (schedule, strategy)'s prune of one shard does. Pure.

    * Committed backups of other schedules or strategies, and manual ones, are kept. Of the
      policy's own that did not fail ``backups verify``, the newest is always kept; another
      goes when it finished more than ``retention_days`` ago and is not among the
      ``keep_last`` newest (a backup survives if any rule keeps it, as restic's
      ``--keep-within`` with ``--keep-last``). One that failed verification counts for
      neither rule and goes once older than ``retention_days``.
    * Garbage prefixes and open uploads count only when their directory carries the policy's
      tag (or, for the untagged policy, no tag). Garbage goes after ``garbage_grace_seconds``
      when its id sorts before the newest own committed backup, else after the in-progress
      grace; an open upload always gets the in-progress grace
      (:attr:`Policy.in_progress_grace`).
      Untagged leftovers seen by a tagged policy (the old layout: owner unknown) go only after
      the longer of the in-progress grace and 24 h.
    """
    plan = Plan()
    committed = list(committed)  # iterated twice: a one-shot iterator must not lose any
    own = sorted(
        (c for c in committed if not c.manual and (c.schedule, c.strategy)
         == (policy.schedule, policy.strategy)),
        key=lambda c: (c.finished_at, c.backup_id), reverse=True,
    )
    for entry in committed:
        if entry.manual:
            plan.keep.append(_decision(entry, "manual backup: kept until deleted"))
        elif (entry.schedule, entry.strategy) != (policy.schedule, policy.strategy):
            plan.keep.append(_decision(
                entry, f"belongs to schedule {entry.schedule} strategy {entry.strategy}"))
    cutoff = now - timedelta(days=policy.retention_days)
    good = [c for c in own if not c.verify_failed]
    for rank, entry in enumerate(good):
        reason = _keep_reason(rank, entry, policy, cutoff)
        if reason is None:
            plan.delete.append(_decision(entry, f"finished {entry.finished_at.isoformat()}, "
                                         f"older than {policy.retention_days} days"))
        else:
            plan.keep.append(_decision(entry, reason))
    for entry in own:
        if not entry.verify_failed:
            continue
        if entry.finished_at >= cutoff:
            plan.keep.append(_decision(entry, "failed verification: kept for inspection until "
                                       f"older than {policy.retention_days} days, counted as "
                                       "nothing"))
        else:
            plan.delete.append(_decision(entry, "failed verification, finished "
                                         f"{entry.finished_at.isoformat()}, older than "
                                         f"{policy.retention_days} days"))
    newest_id = own[0].backup_id if own else None
    for item in garbage:
        reason = _stale_reason(item, policy, newest_id, now, upload=False)
        if reason is not None:
            plan.garbage.append(Decision(item.directory, _id_of(item), reason))
    for item in uploads:
        reason = _stale_reason(item, policy, newest_id, now, upload=True)
        if reason is not None:
            plan.abort.append(Decision(item.directory, _id_of(item), reason, item.key))
    return plan


def _decision(entry: Committed, reason: str) -> Decision:
    return Decision(entry.directory, entry.backup_id, reason)


def _id_of(item: Leftover) -> str:
    return naming.split_backup_dir(item.directory)[0]


def _keep_reason(rank: int, entry: Committed, policy: Policy, cutoff: datetime) -> str | None:
    """Why an own committed backup (``rank`` 0 = newest) is kept, or None: it goes."""
    if rank == 0:
        return "newest backup of its schedule and strategy: never deleted"
    if policy.keep_last is not None and rank < policy.keep_last:
        return f"among the {policy.keep_last} newest (keepLast)"
    if entry.finished_at >= cutoff:
        return f"younger than {policy.retention_days} days (retentionDays)"
    return None


def _stale_reason(
    item: Leftover, policy: Policy, newest_id: str | None, now: datetime, *, upload: bool
) -> str | None:
    """Why a leftover of the policy's own goes now, or None (not its own, or too young)."""
    backup_id, tag = naming.split_backup_dir(item.directory)
    garbage_grace = timedelta(seconds=policy.garbage_grace_seconds)
    if tag != policy.tag:
        if tag is not None:
            return None  # another schedule's or strategy's: never ours to judge
        grace = max(policy.in_progress_grace, timedelta(seconds=IN_PROGRESS_GRACE_SECONDS))
    elif policy.tag is None:  # the old rules, for the old layout and its callers
        # An open upload may always be running, whatever its id (as in the tagged rules).
        maybe_running = upload or newest_id is None or backup_id > newest_id
        in_progress = max(policy.in_progress_grace, timedelta(seconds=IN_PROGRESS_GRACE_SECONDS))
        grace = in_progress if maybe_running else garbage_grace
    elif upload or newest_id is None or backup_id > newest_id:
        grace = policy.in_progress_grace
    else:
        grace = garbage_grace
    if item.written >= now - grace:
        return None
    what = "open upload" if upload else "uncommitted prefix"
    return f"{what} last written {item.written.isoformat()}, older than {grace}"


@dataclass
class _Prefix:
    """Everything stored under one ``<shard>/<directory>/``."""

    directory: str
    keys: list[str] = field(default_factory=list)
    newest: datetime | None = None
    manifest_key: str | None = None


@dataclass
class _Scan:
    """One shard's state as read from the store, and the plan made from it."""

    store: Store
    prefixes: dict[str, _Prefix]
    plan: Plan


def plan_shard(
    location: Destination, cluster: str, keyspace: str, shard: str, policy: Policy,
    now: datetime,
) -> Plan:
    """The plan :func:`prune_backups` would carry out now, without deleting anything."""
    return _scan(location, cluster, keyspace, shard, policy, now).plan


def prune_backups(
    location: Destination,
    cluster: str,
    keyspace: str,
    shard: str,
    keep_last: int | None,
    retention_days: int,
    now: datetime,
    garbage_grace_seconds: int = 3600,
    *,
    schedule: str | None = None,
    strategy: str | None = None,
    job_timeout_seconds: int | None = None,
) -> tuple[list[str], int]:
    """Apply one (schedule, strategy)'s retention to one shard (see :func:`plan_prune`).

    With a schedule, the result is also recorded as the shard's last-cleanup record of that
    pair (``naming.cleanup_record_key``: when, what was deleted, what was kept and why).

    Returns:
        (deleted backup ids, committed or garbage, sorted; number of aborted uploads).

    Raises:
        AccessDenied, BucketMissing, EndpointUnavailable: The object store failed.
    """
    policy = Policy(schedule, strategy, keep_last, retention_days, garbage_grace_seconds,
                    job_timeout_seconds)
    scan = _scan(location, cluster, keyspace, shard, policy, now)
    for decision in scan.plan.delete + scan.plan.garbage:
        _delete_prefix(scan.store, scan.prefixes[decision.directory])
    doomed = {d.key for d in scan.plan.abort}
    base = naming.shard_prefix(location.prefix, cluster, keyspace, shard)
    aborted = scan.store.abort_uploads(base, select=lambda key, _initiated: key in doomed) \
        if doomed else 0
    if policy.tag is not None:
        record = {"time": _aware(now).isoformat(), "schedule": schedule, "strategy": strategy,
                  **scan.plan.to_json()}
        key = naming.cleanup_record_key(location.prefix, cluster, keyspace, shard, policy.tag)
        scan.store.put_bytes(key, (json.dumps(record, sort_keys=True, indent=2) + "\n").encode(),
                             "application/json")
    log.info("catalog.pruned", cluster=cluster, keyspace=keyspace, shard=shard,
             schedule=schedule, strategy=strategy, deleted=scan.plan.deleted_ids(),
             aborted_uploads=aborted, kept=[d.backup_id for d in scan.plan.keep])
    return scan.plan.deleted_ids(), aborted


def read_cleanup_record(
    location: Destination, cluster: str, keyspace: str, shard: str, schedule: str,
    strategy: str,
) -> dict[str, object] | None:
    """The last-cleanup record of one (schedule, strategy) on one shard; None if none."""
    store = open_store(location)
    key = naming.cleanup_record_key(location.prefix, cluster, keyspace, shard,
                                    naming.schedule_tag(schedule, strategy))
    if not store.exists(key):
        return None
    record: dict[str, object] = json.loads(store.read_bytes(key))
    return record


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=UTC)  # S3 dates are aware: naive is UTC


def _scan(
    location: Destination, cluster: str, keyspace: str, shard: str, policy: Policy,
    now: datetime,
) -> _Scan:
    store = open_store(location)
    base = naming.shard_prefix(location.prefix, cluster, keyspace, shard)
    prefixes = _prefixes(store, base)
    failed = {d for d, r in checks.verify_records(location, cluster, keyspace, shard).items()
              if r.result == "failed"}
    committed = [_committed(store, p, p.directory in failed)
                 for p in prefixes.values() if p.manifest_key is not None]
    garbage = [Leftover(p.directory, p.newest) for p in prefixes.values()
               if p.manifest_key is None and p.newest is not None]
    uploads: list[Leftover] = []

    def collect(key: str, initiated: datetime | None) -> bool:
        directory = key[len(base):].partition("/")[0]
        if initiated is not None and not naming.is_side_record_dir(directory):
            uploads.append(Leftover(directory, initiated, key))
        return False  # listing only: aborting is the caller's decision

    store.abort_uploads(base, select=collect)
    return _Scan(store, prefixes, plan_prune(committed, garbage, uploads, policy, _aware(now)))


def _prefixes(store: Store, base: str) -> dict[str, _Prefix]:
    """The backup directories under one shard's ``base``, with their keys and newest date."""
    prefixes: dict[str, _Prefix] = {}
    for key, modified in store.iter_objects(base):
        directory, sep, rest = key[len(base) :].partition("/")
        if not sep or naming.is_side_record_dir(directory):
            continue  # a stray object directly under the shard, or a side record
        entry = prefixes.setdefault(directory, _Prefix(directory))
        entry.keys.append(key)
        entry.newest = modified if entry.newest is None else max(entry.newest, modified)
        if rest == naming.MANIFEST_OBJECT:
            entry.manifest_key = key
    return prefixes


def _committed(store: Store, entry: _Prefix, verify_failed: bool = False) -> Committed:
    """A committed backup as its manifest describes it (the directory, if unreadable)."""
    if entry.manifest_key is None or entry.newest is None:  # pragma: no cover - committed only
        raise ValueError("not a committed backup")
    backup_id, _tag = naming.split_backup_dir(entry.directory)
    try:
        manifest = manifest_in(store, entry.manifest_key)
    except BackupIncomplete:
        # Unreadable: nobody's to expire, so it is kept like a manual backup (never lost).
        return Committed(entry.directory, backup_id, None, None, True, entry.newest)
    return Committed(entry.directory, manifest.backup_id, manifest.schedule, manifest.strategy,
                     manifest.is_manual(), _aware(manifest.finished_at), verify_failed)


def _delete_prefix(store: Store, entry: _Prefix) -> None:
    """Delete one backup prefix, metadata.json first."""
    deleted = delete_manifest_first(store, entry.keys, entry.manifest_key)
    log.info("catalog.deleted", directory=entry.directory, objects=deleted)
