"""``plan``: what the schedules will do, computed offline from the documents alone.

No Temporal, no object store, no database: the Cluster document is the topology, the
strategies are expanded with the same ``scopes.expand`` and staggered with the same
``stagger.offsets`` and window the BackupRun workflow uses, and fire times follow the
Temporal Schedule's rules (``firetimes``). The vitess-operator analogue is a schedule's
``status.generatedSchedules`` and ``status.nextScheduledTimes``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shardkeeper import stagger
from shardkeeper.control import firetimes
from shardkeeper.scopes import expand
from shardkeeper.spec.cluster import Cluster
from shardkeeper.spec.convert import (
    excluded_keyspaces,
    keyspace_owners_of,
    period_seconds,
    stagger_window_seconds,
    strategies_of,
    topology_of,
)
from shardkeeper.spec.load import Loaded, SpecSet, load
from shardkeeper.spec.schedule import BackupSchedule, cron_line
from shardkeeper.spec.validate import check_references


@dataclass(frozen=True)
class PlanEntry:
    """One shard of one strategy of one schedule: when it starts."""

    schedule: str
    cluster: str
    keyspace: str
    shard: str
    strategy: str
    offset_seconds: int
    cron: str | None
    """A cron line starting this shard at the same times, or None when no single line can."""
    next_runs: tuple[datetime, ...]
    """Empty when the schedule is suspended (its Temporal Schedule is paused)."""
    suspended: bool


@dataclass(frozen=True)
class Exclusion:
    """A keyspace a Cluster-scope strategy leaves out, and why."""

    schedule: str
    strategy: str
    keyspace: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """Every entry and exclusion of a set of documents."""

    entries: tuple[PlanEntry, ...]
    excluded: tuple[Exclusion, ...]

    def as_dict(self) -> dict[str, Any]:
        """The ``-o json|yaml`` document: ``{"entries": [...], "excluded": [...]}``."""
        return {
            "entries": [
                {
                    "schedule": e.schedule,
                    "cluster": e.cluster,
                    "keyspace": e.keyspace,
                    "shard": e.shard,
                    "strategy": e.strategy,
                    "offset_seconds": e.offset_seconds,
                    "cron": e.cron,
                    "next_runs": [t.isoformat() for t in e.next_runs],
                    "suspended": e.suspended,
                }
                for e in self.entries
            ],
            "excluded": [
                {"schedule": x.schedule, "strategy": x.strategy, "keyspace": x.keyspace,
                 "reason": x.reason}
                for x in self.excluded
            ],
        }


def human_offset(seconds: int) -> str:
    """``+2h5m``, ``+37s``, ``+1d3h``, ``+0s``."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "+" + ("".join(parts) or "0s")


def _exclusions(loaded: Loaded, specs: SpecSet) -> list[Exclusion]:
    sched = loaded.resource
    if not isinstance(sched, BackupSchedule):  # pragma: no cover
        return []
    cluster = specs.clusters[sched.spec.cluster].resource
    if not isinstance(cluster, Cluster):  # pragma: no cover
        return []
    keyspaces = [k.name for k in cluster.spec.keyspaces]
    owners = [o for o in keyspace_owners_of(specs, sched.spec.cluster)
              if o.schedule != sched.metadata.name]
    # the schedule's own Keyspace strategies count even when it is suspended
    own = [(s.keyspace, s.name) for s in sched.spec.strategies
           if s.scope == "Keyspace" and s.keyspace]
    out: list[Exclusion] = []
    for st in sched.spec.strategies:
        if st.scope != "Cluster":
            continue
        for ks in keyspaces:
            reasons = [f"owned by Keyspace strategy {name!r} of this schedule"
                       for k, name in own if k == ks]
            reasons += [f"owned by Keyspace strategy {o.strategy!r} of schedule {o.schedule!r}"
                        for o in owners if o.keyspace == ks]
            if reasons:
                out.append(Exclusion(sched.metadata.name, st.name, ks, "; ".join(reasons)))
    return out


def _runs(sched: BackupSchedule, offset: int, now: datetime, count: int) -> tuple[datetime, ...]:
    if sched.spec.suspend or count <= 0:
        return ()
    # fires after now - offset are the ones whose shard start is still ahead of now
    after = now.astimezone(UTC) - timedelta(seconds=offset)
    fires: Iterator[datetime]
    if sched.spec.frequency is not None:
        fires = firetimes.interval_fires(period_seconds(sched.spec), after)
    else:
        fires = firetimes.cron_fires(cron_line(sched.spec.schedule or ""),
                                     sched.spec.time_zone, after)
    return tuple(firetimes.run_times(fires, offset, count, sched.spec.time_zone))


def _cron(sched: BackupSchedule, offset: int) -> str | None:
    spec = sched.spec
    if spec.frequency is None:
        return firetimes.shifted_cron(cron_line(spec.schedule or ""), offset)
    line = firetimes.interval_cron(period_seconds(spec), offset)
    # interval schedules are aligned in UTC whatever the display zone
    if line is not None and spec.time_zone != "UTC":
        line = f"CRON_TZ=UTC {line}"
    return line


def _entries(loaded: Loaded, specs: SpecSet, now: datetime, count: int) -> list[PlanEntry]:
    sched = loaded.resource
    if not isinstance(sched, BackupSchedule):  # pragma: no cover
        return []
    cluster = specs.clusters[sched.spec.cluster].resource
    if not isinstance(cluster, Cluster):  # pragma: no cover
        return []
    targets, _ = expand(
        topology_of(cluster),
        strategies_of(sched.spec),
        excluded_keyspaces(specs, sched.spec.cluster, sched.metadata.name),
    )
    keys = {t: stagger.StaggerKey(sched.spec.cluster, t.keyspace, t.shard, t.strategy)
            for t in targets}
    offsets = stagger.offsets(keys.values(), stagger_window_seconds(sched.spec))
    entries = []
    for t in sorted(targets, key=lambda t: (offsets[keys[t]], t)):
        offset = offsets[keys[t]]
        entries.append(PlanEntry(
            schedule=sched.metadata.name,
            cluster=sched.spec.cluster,
            keyspace=t.keyspace,
            shard=t.shard,
            strategy=t.strategy,
            offset_seconds=offset,
            cron=_cron(sched, offset),
            next_runs=_runs(sched, offset, now, count),
            suspended=sched.spec.suspend,
        ))
    return entries


def plan(specs: SpecSet, *, now: datetime, count: int) -> Plan:
    """The plan of every BackupSchedule in ``specs`` (already reference-checked)."""
    entries: list[PlanEntry] = []
    excluded: list[Exclusion] = []
    for loaded in specs.schedules:
        entries += _entries(loaded, specs, now, count)
        excluded += _exclusions(loaded, specs)
    return Plan(tuple(entries), tuple(excluded))


def plan_files(paths: list[Path], *, now: datetime, count: int) -> Plan:
    """Load and validate every document in ``paths`` and plan its schedules.

    Raises:
        SpecInvalid: any document, field or reference is invalid (one line per problem).
    """
    specs = load(paths)
    check_references(specs)
    return plan(specs, now=now, count=count)

