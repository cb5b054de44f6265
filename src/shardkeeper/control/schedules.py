"""BackupSchedule documents to Temporal Schedules: apply (create or update) and trigger.

One Temporal Schedule per BackupSchedule, id ``shardkeeper/<cluster>/<name>``; applying again
updates it in place, never duplicates. Overlap is ALLOW_ALL: a run spread over a whole
period must not make the next scheduled run skip; shards stagger inside the run.

The schedule's action carries the Cluster document inline (never a path of the applying
machine). ``shardkeeper apply`` of a Cluster document also updates the topology of the
cluster's schedules already applied and not among the files given (:func:`reapply_topology`),
so a reshard is one ``apply -f cluster.yaml``. Deleting a schedule removes the Temporal
Schedule only: its backups stay, and a run it already started finishes.

``firstBackup: immediate`` (the default) starts one run at apply, and at every topology
update, that backs up only the shards with no committed backup of the schedule yet
(:func:`start_first_backup`): a new schedule, or a shard a reshard added, is protected now,
not at the next slot.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from shardkeeper import __version__, naming
from shardkeeper.activities.ownership import schedule_names
from shardkeeper.contracts import names
from shardkeeper.contracts.backup import BackupRunInput, BackupRunResult
from shardkeeper.contracts.common import Destination, S3Location, TopologySource
from shardkeeper.datapath.stores import repository
from shardkeeper.datapath.stores.destination import describe_location
from shardkeeper.datapath.stores.destination import preflight as destination_preflight
from shardkeeper.errors import SpecInvalid
from shardkeeper.spec.base import parse_duration
from shardkeeper.spec.convert import destination_of, inline_topology, run_input
from shardkeeper.spec.load import Loaded, SpecSet
from shardkeeper.spec.schedule import BackupSchedule, BackupScheduleSpec, cron_line


@dataclass(frozen=True)
class Applied:
    """What apply did to one schedule."""

    name: str
    schedule_id: str
    action: str  # "created" | "updated" | "topology updated"
    first_backup: str | None = None
    """Workflow id of the first-backup run started (``firstBackup: immediate``), if any."""


def temporal_spec(spec: BackupScheduleSpec) -> ScheduleSpec:
    """When the Temporal Schedule fires."""
    if spec.frequency is not None:
        return ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=parse_duration(spec.frequency)))]
        )
    cron = spec.schedule or ""
    # Macros are spelled out (cron_line) so every Temporal server version parses them alike.
    return ScheduleSpec(cron_expressions=[cron_line(cron)], time_zone_name=spec.time_zone)


def _run_attributes(inp: BackupRunInput) -> TypedSearchAttributes:
    return TypedSearchAttributes([
        SearchAttributePair(SearchAttributeKey.for_keyword(names.SA_CLUSTER), inp.cluster),
        SearchAttributePair(SearchAttributeKey.for_keyword(names.SA_SCHEDULE), inp.schedule),
    ])


def build_schedule(loaded: Loaded, specs: SpecSet, task_queue: str) -> Schedule:
    """The Temporal Schedule of one BackupSchedule document."""
    sched = loaded.resource
    if not isinstance(sched, BackupSchedule):  # pragma: no cover - callers pass schedules
        raise TypeError("expected a BackupSchedule")
    inp = run_input(loaded, specs)
    attrs = _run_attributes(inp)
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


async def preflight(specs: SpecSet) -> None:
    """Check every schedule's destination before anything is applied.

    An S3 bucket and its credentials are checked from here; a filesystem directory only for
    the local executor, since it is only checkable where the agent runs (a Kubernetes Job
    mounts its own volume).

    Raises:
        ShardkeeperError: The first destination that cannot take backups, and why.
    """
    for loc, _cluster in _reachable_destinations(specs):
        await asyncio.to_thread(destination_preflight, loc)


def _reachable_destinations(specs: SpecSet) -> list[tuple[Destination, str]]:
    """(destination, cluster) of every schedule whose destination is reachable from here.

    An S3 bucket always; a filesystem directory only for the local executor (a Kubernetes
    Job mounts its own volume, which this machine does not see).
    """
    found = []
    for loaded in specs.schedules:
        if not isinstance(loaded.resource, BackupSchedule):  # pragma: no cover
            continue
        spec = loaded.resource.spec
        loc = destination_of(spec.destination)
        if isinstance(loc, S3Location) or spec.executor.kind == "local":
            found.append((loc, spec.cluster))
    return found


async def claim_repositories(specs: SpecSet) -> list[str]:
    """Check, then write, the repository marker of every schedule's (destination, cluster).

    Every marker is read and checked before any is written, so a refused location leaves
    nothing behind. Only where :func:`preflight` can reach the destination.

    Returns:
        ``<location>/<cluster>/`` of each marker written now.

    Raises:
        RepositoryMismatch: A marker of an unknown layout version or of another cluster.
    """
    claims: dict[str, tuple[Destination, str]] = {}
    for loc, cluster in _reachable_destinations(specs):
        claims.setdefault(repository.marker_key(loc, cluster), (loc, cluster))
    found = {}
    for key, (loc, cluster) in claims.items():
        found[key] = await asyncio.to_thread(repository.read_marker, loc, cluster)
        repository.check_marker(loc, cluster, found[key])
    written = []
    now = datetime.now(UTC)
    for key, (loc, cluster) in claims.items():
        existing = found[key]
        if existing is None or existing.layout_version != repository.LAYOUT_VERSION:
            await asyncio.to_thread(repository.write_marker, loc, cluster, now,
                                    f"shardkeeper {__version__}", existing)
            written.append(f"{describe_location(loc)}/{cluster}/")
    return written


async def start_first_backup(client: Client, inp: BackupRunInput, task_queue: str) -> str:
    """Start the run ``firstBackup: immediate`` asks for; returns its workflow id.

    The run backs up only the shards that have no committed backup of this schedule and
    strategy when it starts (``only_shards_without_backup``), so applying again, or a
    reshard, never backs up a shard twice. One id per schedule: while one runs, applying
    again joins it (``USE_EXISTING``) instead of starting a second.
    """
    wid = naming.first_backup_workflow_id(inp.cluster, inp.schedule)
    await client.start_workflow(
        names.BACKUP_RUN,
        inp.model_copy(update={"only_shards_without_backup": True, "backup_id": None}),
        id=wid,
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=_run_attributes(inp),
        result_type=BackupRunResult,
        static_summary="first backup: the shards without a committed backup",
    )
    return wid


async def reapply_topology(client: Client, specs: SpecSet, applied: list[Applied]) -> list[Applied]:
    """Embed each Cluster document of ``specs`` in its cluster's other applied schedules.

    ``shardkeeper apply`` calls it after :func:`apply`, so a reshard is one ``apply -f
    cluster.yaml`` however the schedules were applied; schedules in ``applied`` already carry
    it. Returns one ``topology updated`` entry per schedule changed.
    """
    results: list[Applied] = []
    given = {r.schedule_id for r in applied}
    for cluster_name, cluster_doc in sorted(specs.clusters.items()):
        source = inline_topology(cluster_doc)
        for name in await schedule_names(client, cluster_name):
            sid = naming.schedule_id(cluster_name, name)
            if sid in given:
                continue
            updated = await _replace_topology(client, sid, source)
            if updated is None:
                continue
            inp, queue, paused = updated
            first = None
            if inp.first_backup == "immediate" and not paused:
                first = await start_first_backup(client, inp, queue)  # new shards get one now
            results.append(Applied(name, sid, "topology updated", first))
    return results


async def _replace_topology(
    client: Client, sid: str, source: TopologySource
) -> tuple[BackupRunInput, str, bool] | None:
    """Put ``source`` into an applied schedule's BackupRun input.

    Returns:
        The new input, the action's task queue and whether the schedule is paused; None if
        nothing changed (no such schedule, or one that discovers its topology itself).
    """
    new: tuple[BackupRunInput, str, bool] | None = None

    async def swap(current: ScheduleUpdateInput) -> ScheduleUpdate | None:
        nonlocal new
        schedule = current.description.schedule
        action = schedule.action
        if not isinstance(action, ScheduleActionStartWorkflow) or not action.args:
            return None
        decoded = await client.data_converter.decode(action.args, [BackupRunInput])
        old = decoded[0]
        if not isinstance(old, BackupRunInput) or old.topology_source.kind == "kubernetes":
            return None  # discovered at run time already: nothing of the file to embed
        inp = old.model_copy(update={"topology_source": source})
        action.args = [inp]
        new = (inp, action.task_queue, schedule.state.paused)
        return ScheduleUpdate(schedule=schedule)

    try:
        await client.get_schedule_handle(sid).update(swap)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return None  # deleted since it was listed
    return new


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
            action = "created"
        except ScheduleAlreadyRunningError:
            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(sid).update(replace)
            action = "updated"
        first = None
        if sched.spec.first_backup == "immediate" and not sched.spec.suspend:
            first = await start_first_backup(client, run_input(loaded, specs), task_queue)
        results.append(Applied(sched.metadata.name, sid, action, first))
    return results


async def trigger(client: Client, cluster: str, schedule: str) -> None:
    """Run a schedule now (``temporal schedule trigger --schedule-id ...``)."""
    await client.get_schedule_handle(naming.schedule_id(cluster, schedule)).trigger()


async def delete(client: Client, cluster: str, schedule: str) -> str:
    """``temporal schedule delete --schedule-id ID``; returns the id.

    Only the Temporal Schedule goes: the backups it made stay in their destination, and a
    BackupRun it already started runs to its end.

    Raises:
        SpecInvalid: no such schedule (exit code 2, like every unknown name given).
    """
    sid = handle_id(cluster, schedule)
    try:
        await client.get_schedule_handle(sid).delete()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        raise SpecInvalid(
            f"no BackupSchedule {schedule!r} of cluster {cluster!r} (temporal schedule {sid}); "
            f"`shardkeeper get schedules -c {cluster}` lists the applied ones"
        ) from None
    return sid


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
