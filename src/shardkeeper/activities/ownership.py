"""keyspace_owners: which keyspaces Keyspace strategies of the cluster's schedules own now.

Read when a scheduled BackupRun starts, from the Temporal Schedules themselves (ids
``shardkeeper/<cluster>/<name>``), so ownership follows what exists at that moment: a
schedule applied alone, paused or deleted changes the next run of every other schedule of
the cluster without re-applying it.

The listing (visibility) is eventually consistent, so each listed schedule is described
(authoritative): a schedule deleted since the listing is passed over, and its paused state
and strategies are the current ones. A schedule created in the last few seconds may not be
listed yet; its ownership starts with the next run after the visibility store lists it.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.service import RPCError, RPCStatusCode

from shardkeeper import naming
from shardkeeper.contracts import names
from shardkeeper.contracts.backup import BackupRunInput, Scope
from shardkeeper.contracts.ownership import (
    KeyspaceOwner,
    KeyspaceOwnersInput,
    KeyspaceOwnersResult,
)


async def schedule_names(client: Client, cluster: str) -> list[str]:
    """Names of the cluster's shardkeeper schedules the visibility store lists now, sorted."""
    found: set[str] = set()
    async for listed in await client.list_schedules():
        parts = naming.schedule_id_parts(listed.id)
        if parts is not None and parts[0] == cluster:
            found.add(parts[1])
    return sorted(found)


async def schedule_input(client: Client, cluster: str, name: str) -> BackupRunInput | None:
    """The BackupRun input of a schedule's action, with its paused state checked by the caller.

    Raises:
        LookupError: the schedule no longer exists.
        ValueError: its action is not a BackupRun this worker can decode.
    """
    try:
        desc = await client.get_schedule_handle(naming.schedule_id(cluster, name)).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise LookupError(name) from None
        raise
    if desc.schedule.state.paused:
        return None
    action = desc.schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow) or action.workflow != names.BACKUP_RUN:
        raise ValueError(f"schedule {name!r} does not start {names.BACKUP_RUN}")
    try:
        decoded = await client.data_converter.decode(action.args, [BackupRunInput])
    except Exception as err:  # a converter raises whatever its payload codec raises
        raise ValueError(f"schedule {name!r}: unreadable input ({err})") from None
    run_input = decoded[0] if decoded else None
    if not isinstance(run_input, BackupRunInput):
        raise ValueError(f"schedule {name!r}: no BackupRun input")
    return run_input


@activity.defn(name=names.KEYSPACE_OWNERS)
async def keyspace_owners(inp: KeyspaceOwnersInput) -> KeyspaceOwnersResult:
    """Keyspace strategies of the cluster's active schedules, and the ones passed over."""
    client = activity.client()
    owners: list[KeyspaceOwner] = []
    paused: list[str] = []
    unreadable: list[str] = []
    for name in await schedule_names(client, inp.cluster):
        try:
            run_input = await schedule_input(client, inp.cluster, name)
        except LookupError:
            continue  # deleted since the listing: it owns nothing any more
        except ValueError as err:
            activity.logger.warning("keyspace owners: %s", err)
            unreadable.append(name)
            continue
        if run_input is None:
            paused.append(name)
            continue
        owners.extend(
            KeyspaceOwner(keyspace=s.keyspace, schedule=name, strategy=s.name)
            for s in run_input.strategies
            if s.scope == Scope.KEYSPACE and s.keyspace
        )
    owners.sort(key=lambda o: (o.keyspace, o.schedule, o.strategy))
    return KeyspaceOwnersResult(
        owners=tuple(owners), paused=tuple(paused), unreadable=tuple(unreadable)
    )
