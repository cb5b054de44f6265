"""What a person asks of a schedule: is it paused, when does it run, how did each shard do.

Served from Temporal (the schedule's description, the runs' results and ``progress``
queries, visibility) and the object store; there is no private database to drift.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError, RPCStatusCode

from shardkeeper import naming
from shardkeeper.contracts.backup import (
    BackupRunInput,
    BackupRunProgress,
    BackupRunResult,
)
from shardkeeper.contracts.common import Destination
from shardkeeper.control.backups import list_backups
from shardkeeper.datapath.stores import retention
from shardkeeper.datapath.stores.destination import describe_location
from shardkeeper.errors import ShardkeeperError


@dataclass
class ScheduleSummary:
    """One row of ``get schedules``."""

    name: str
    cluster: str
    schedule_id: str
    when: str
    paused: bool
    note: str
    last_run: datetime | None
    next_run: datetime | None


@dataclass
class ShardStatus:
    """One shard of ``describe schedule``."""

    keyspace: str
    shard: str
    strategy: str
    offset_seconds: int | None = None
    next_run: datetime | None = None
    last_backup_id: str | None = None
    last_outcome: str | None = None
    last_size_bytes: int | None = None
    last_duration_seconds: float | None = None
    last_error: str | None = None
    newest_stored_backup: str | None = None
    last_cleanup_time: str | None = None
    """When this (schedule, strategy) last pruned the shard (seed 004 ``lastCleanupTime``)."""
    last_cleanup: str | None = None
    """What that prune deleted and kept, and why (one line)."""


@dataclass
class ScheduleDetail:
    """Everything ``describe schedule`` shows."""

    summary: ScheduleSummary
    run_input: BackupRunInput | None
    running_runs: list[str] = field(default_factory=list)
    shards: list[ShardStatus] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    missed_catchup: int = 0
    skipped_overlap: int = 0
    destination: str | None = None
    """Where the schedule's backups go (``s3://bucket/prefix`` or a directory), if known."""


async def _runs_newest_first(
    client: Client, cluster: str, name: str, recent: Sequence[ScheduleActionResult]
) -> list[tuple[str, WorkflowExecutionDescription]]:
    """The schedule's recent runs and its first-backup run, newest start first."""
    ids = [a.action.workflow_id for a in recent
           if isinstance(a.action, ScheduleActionExecutionStartWorkflow)]
    ids.append(naming.first_backup_workflow_id(cluster, name))
    runs = []
    for run_id in ids:
        try:
            runs.append((run_id, await client.get_workflow_handle(run_id).describe()))
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise  # the first-backup run exists only with firstBackup: immediate
    return sorted(runs, key=lambda r: r[1].start_time, reverse=True)


def _add_cleanups(
    location: Destination, cluster: str, schedule: str, shards: list[ShardStatus]
) -> None:
    """Fill in each shard's last-cleanup record of this schedule and its strategy."""
    for st in shards:
        try:
            record = retention.read_cleanup_record(location, cluster, st.keyspace, st.shard,
                                                   schedule, st.strategy)
        except ShardkeeperError:
            continue  # a store that cannot be read here must not hide the Temporal view
        if record is None:
            continue
        st.last_cleanup_time = str(record.get("time"))
        st.last_cleanup = _cleanup_line(record)


def _cleanup_line(record: dict[str, Any]) -> str:
    """``deleted A (why); kept B (why), ...`` in one line."""
    def rows(name: str) -> str:
        items = record.get(name) or []
        return ", ".join(f"{r['backup_id']} ({r['reason']})" for r in items) or "none"
    aborted = len(record.get("aborted_uploads") or [])
    line = f"deleted {rows('deleted')}; kept {rows('kept')}"
    if record.get("garbage"):
        line += f"; swept {rows('garbage')}"
    return line + (f"; aborted {aborted} upload(s)" if aborted else "")


def _when(spec: Any) -> str:
    if spec.cron_expressions:
        tz = f" ({spec.time_zone_name})" if spec.time_zone_name else ""
        return ", ".join(spec.cron_expressions) + tz
    if spec.calendars:
        c = spec.calendars[0]
        tz = f" ({spec.time_zone_name})" if spec.time_zone_name else ""
        return (c.comment or "calendar") + tz
    if spec.intervals:
        return "every " + ", ".join(str(i.every) for i in spec.intervals)
    return "-"


async def list_schedules(client: Client, cluster: str | None = None) -> list[ScheduleSummary]:
    """Every shardkeeper schedule (optionally of one cluster), sorted by cluster and name."""
    rows = []
    async for s in await client.list_schedules():
        parts = naming.schedule_id_parts(s.id)
        if parts is None:
            continue
        c, name = parts
        if (cluster and c != cluster) or s.schedule is None or s.info is None:
            continue
        recent = s.info.recent_actions
        rows.append(ScheduleSummary(
            name=name, cluster=c, schedule_id=s.id, when=_when(s.schedule.spec),
            paused=s.schedule.state.paused, note=s.schedule.state.note or "",
            last_run=recent[-1].scheduled_at if recent else None,
            next_run=s.info.next_action_times[0] if s.info.next_action_times else None,
        ))
    return sorted(rows, key=lambda r: (r.cluster, r.name))


async def describe(client: Client, cluster: str, name: str) -> ScheduleDetail:
    """The schedule, its runs and every shard's last result and next start.

    Long because it joins three sources (the Schedule, visibility and the store's cleanup
    records) into one view; each join is a few lines and reads in order.
    """
    sid = naming.schedule_id(cluster, name)
    desc = await client.get_schedule_handle(sid).describe()
    action = desc.schedule.action
    run_input: BackupRunInput | None = None
    if getattr(action, "args", None):
        decoded = await client.data_converter.decode(action.args, [BackupRunInput])  # type: ignore[attr-defined]
        run_input = decoded[0]
    recent = desc.info.recent_actions
    summary = ScheduleSummary(
        name=name, cluster=cluster, schedule_id=sid, when=_when(desc.schedule.spec),
        paused=desc.schedule.state.paused, note=desc.schedule.state.note or "",
        last_run=recent[-1].scheduled_at if recent else None,
        next_run=desc.info.next_action_times[0] if desc.info.next_action_times else None,
    )
    detail = ScheduleDetail(
        summary=summary, run_input=run_input,
        running_runs=[r.workflow_id for r in desc.info.running_actions
                      if isinstance(r, ScheduleActionExecutionStartWorkflow)],
        missed_catchup=desc.info.num_actions_missed_catchup_window,
        skipped_overlap=desc.info.num_actions_skipped_overlap,
        destination=describe_location(run_input.policy.destination) if run_input else None,
    )
    shards: dict[tuple[str, str, str], ShardStatus] = {}
    # Newest run first: its plan gives the offsets; the newest finished one the results.
    # The runs are the Schedule's and the first-backup run apply started (firstBackup).
    runs = await _runs_newest_first(client, cluster, name, recent)
    if runs and (summary.last_run is None or runs[0][1].start_time > summary.last_run):
        summary.last_run = runs[0][1].start_time  # the first-backup run counts as a run
    detail.running_runs += [i for i, info in runs if i not in detail.running_runs
                            and info.status == WorkflowExecutionStatus.RUNNING]
    for run_id, info in runs:
        handle = client.get_workflow_handle(run_id, result_type=BackupRunResult)
        if info.status == WorkflowExecutionStatus.RUNNING or not shards:
            progress = await handle.query("progress", result_type=BackupRunProgress)
            for p in progress.planned:
                key = (p.keyspace, p.shard, p.strategy)
                st = shards.setdefault(key, ShardStatus(p.keyspace, p.shard, p.strategy))
                st.offset_seconds = p.offset_seconds
                if summary.next_run:
                    st.next_run = summary.next_run + timedelta(seconds=p.offset_seconds)
            detail.skipped = detail.skipped or [
                {"keyspace": s.keyspace, "shard": s.shard, "strategy": s.strategy,
                 "reason": s.reason} for s in progress.skipped]
        if info.status == WorkflowExecutionStatus.COMPLETED:
            result = await handle.result()
            for r in result.shards:
                st = shards.setdefault((r.keyspace, r.shard, r.strategy),
                                       ShardStatus(r.keyspace, r.shard, r.strategy))
                if st.last_outcome is not None:
                    continue
                st.last_backup_id, st.last_outcome = r.backup_id, r.outcome.value
                st.last_size_bytes = r.size_bytes
                if r.started_at and r.finished_at:
                    st.last_duration_seconds = (r.finished_at - r.started_at).total_seconds()
                st.last_error = r.reason
            break
    if run_input is not None:
        stored = await asyncio.to_thread(list_backups, [run_input.policy.destination], cluster)
        newest = {(m.keyspace, m.shard): m.backup_id for m in stored}
        own = {(m.keyspace, m.shard, m.strategy): m.backup_id for m in stored
               if m.schedule == name}
        for st in shards.values():
            st.newest_stored_backup = own.get((st.keyspace, st.shard, st.strategy),
                                              newest.get((st.keyspace, st.shard)))
        await asyncio.to_thread(_add_cleanups, run_input.policy.destination, cluster, name,
                                list(shards.values()))
    detail.shards = sorted(shards.values(), key=lambda s: (s.keyspace, s.shard, s.strategy))
    return detail
