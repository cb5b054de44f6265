"""BackupSchedule documents to Temporal Schedules: apply (create or update) and trigger.

One Temporal Schedule per BackupSchedule, id ``shardkeeper/<cluster>/<name>``; applying again
updates it in place, never duplicates. Overlap is ALLOW_ALL: a run spread over a whole
period must not make the next scheduled run skip; shards stagger inside the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from shardkeeper import naming
from shardkeeper.contracts import names
from shardkeeper.spec.base import parse_duration
from shardkeeper.spec.convert import run_input
from shardkeeper.spec.load import Loaded, SpecSet
from shardkeeper.spec.schedule import BackupSchedule, BackupScheduleSpec, cron_line


@dataclass(frozen=True)
class Applied:
    """What apply did to one schedule."""

    name: str
    schedule_id: str
    action: str  # "created" | "updated"


def temporal_spec(spec: BackupScheduleSpec) -> ScheduleSpec:
    """When the Temporal Schedule fires."""
    if spec.frequency is not None:
        return ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=parse_duration(spec.frequency)))]
        )
    cron = spec.schedule or ""
    # Macros are spelled out (cron_line) so every Temporal server version parses them alike.
    return ScheduleSpec(cron_expressions=[cron_line(cron)], time_zone_name=spec.time_zone)


def build_schedule(loaded: Loaded, specs: SpecSet, task_queue: str) -> Schedule:
    """The Temporal Schedule of one BackupSchedule document."""
    sched = loaded.resource
    if not isinstance(sched, BackupSchedule):  # pragma: no cover - callers pass schedules
        raise TypeError("expected a BackupSchedule")
    inp = run_input(loaded, specs)
    attrs = TypedSearchAttributes([
        SearchAttributePair(SearchAttributeKey.for_keyword(names.SA_CLUSTER), inp.cluster),
        SearchAttributePair(SearchAttributeKey.for_keyword(names.SA_SCHEDULE), inp.schedule),
    ])
    return Schedule(
        action=ScheduleActionStartWorkflow(
            names.BACKUP_RUN,
            inp,
            id=naming.run_workflow_id(inp.cluster, inp.schedule),
            task_queue=task_queue,
            typed_search_attributes=attrs,
        ),
        spec=temporal_spec(sched.spec),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.ALLOW_ALL,
            catchup_window=timedelta(seconds=inp.policy.starting_deadline_seconds)
            if inp.policy.starting_deadline_seconds
            else timedelta(days=365),
        ),
        state=ScheduleState(
            paused=sched.spec.suspend,
            note="suspended by spec.suspend" if sched.spec.suspend else "applied by shardkeeper",
        ),
    )


async def apply(client: Client, specs: SpecSet, task_queue: str) -> list[Applied]:
    """Create or update the Temporal Schedule of every BackupSchedule in ``specs``."""
    results: list[Applied] = []
    for loaded in specs.schedules:
        sched = loaded.resource
        if not isinstance(sched, BackupSchedule):  # pragma: no cover
            continue
        sid = naming.schedule_id(sched.spec.cluster, sched.metadata.name)
        schedule = build_schedule(loaded, specs, task_queue)
        try:
            await client.create_schedule(sid, schedule)
            results.append(Applied(sched.metadata.name, sid, "created"))
        except ScheduleAlreadyRunningError:
            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(sid).update(replace)
            results.append(Applied(sched.metadata.name, sid, "updated"))
    return results


async def trigger(client: Client, cluster: str, schedule: str) -> None:
    """Run a schedule now (``temporal schedule trigger --schedule-id ...``)."""
    await client.get_schedule_handle(naming.schedule_id(cluster, schedule)).trigger()


def handle_id(cluster: str, schedule: str) -> str:
    """The Temporal Schedule id (printed so people can use the `temporal` CLI directly)."""
    return naming.schedule_id(cluster, schedule)


async def pause(client: Client, cluster: str, schedule: str, note: str) -> None:
    """``temporal schedule toggle --pause --schedule-id ID --reason NOTE``."""
    await client.get_schedule_handle(handle_id(cluster, schedule)).pause(note=note)


async def resume(client: Client, cluster: str, schedule: str, note: str) -> None:
    """``temporal schedule toggle --unpause --schedule-id ID --reason NOTE``."""
    await client.get_schedule_handle(handle_id(cluster, schedule)).unpause(note=note)


async def backfill(
    client: Client, cluster: str, schedule: str, start: datetime, end: datetime
) -> None:
    """``temporal schedule backfill --schedule-id ID --start-time S --end-time E``.

    Each missed slot runs with its own nominal time, so its backup id is that slot's.
    """
    await client.get_schedule_handle(handle_id(cluster, schedule)).backfill(
        ScheduleBackfill(start_at=start, end_at=end, overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    )
