"""inspect_target, fence_target, unfence_target: stop writes to an instance, and undo that.

Inspect records how an instance is (running, read_only, replicating) *before* anything
changes it; the workflow registers ``unfence_target`` with that record as the compensation
and only then calls ``fence_target``. Fencing sets ``read_only``, stops replication and
shuts the server down (its datadir is then quiescent and can be moved aside). Unfencing
returns the instance to the recorded state; all three are idempotent.
"""

from __future__ import annotations

import asyncio

from temporalio import activity

from shardkeeper.activities.heartbeat import Heartbeater
from shardkeeper.activities.instances import (
    execute,
    is_up,
    query,
    server_pid,
    start,
    stop,
)
from shardkeeper.contracts import names
from shardkeeper.contracts.common import DatabaseCredentials, Instance
from shardkeeper.contracts.restore import FenceInput, InstanceInput, TargetState

START_TIMEOUT_SECONDS = 300.0


def inspect(instance: Instance, credentials: DatabaseCredentials) -> TargetState:
    """The instance's state now (a stopped instance is ``running=False``)."""
    if not is_up(instance, credentials):
        return TargetState(instance=instance, running=False)
    row = query(instance, credentials,
                "SELECT @@read_only AS ro, @@gtid_current_pos AS gtid")[0]
    slave = query(instance, credentials, "SHOW SLAVE STATUS")
    # "started" is what counts, not "connected": an IO thread that is (re)connecting to a
    # restarting primary was running and must be running again afterwards.
    replicating = bool(slave) and slave[0].get("Slave_IO_Running") != "No" and (
        slave[0].get("Slave_SQL_Running") == "Yes")
    return TargetState(
        instance=instance, running=True, read_only=bool(int(row["ro"])),
        replicating=replicating, gtid_current_pos=str(row["gtid"] or "") or None,
        pid=server_pid(instance, credentials),
    )


def fence(state: TargetState, credentials: DatabaseCredentials) -> None:
    """Stop writes and replication, then shut the server down."""
    inst = state.instance
    if not is_up(inst, credentials):
        return
    execute(inst, credentials, "SET GLOBAL read_only = ON")
    if query(inst, credentials, "SHOW SLAVE STATUS"):
        execute(inst, credentials, "STOP SLAVE")
    stop(inst, credentials)


def unfence(state: TargetState, credentials: DatabaseCredentials, restored: bool) -> None:
    """Return the instance to ``state`` (see ``FenceInput.restored``)."""
    inst = state.instance
    if not restored and not state.running:
        stop(inst, credentials)  # it was not running before the restore
        return
    if not is_up(inst, credentials):
        start(inst, credentials, (), START_TIMEOUT_SECONDS)
    read_only = state.read_only if state.running else False
    execute(inst, credentials, f"SET GLOBAL read_only = {'ON' if read_only else 'OFF'}")
    configured = bool(query(inst, credentials, "SHOW SLAVE STATUS"))
    if state.replicating and configured:
        execute(inst, credentials, "START SLAVE")
    elif configured and not restored and state.running:
        # a replica that was stopped before must not start replicating because it restarted
        execute(inst, credentials, "STOP SLAVE")


@activity.defn(name=names.INSPECT_TARGET)
async def inspect_target(inp: InstanceInput) -> TargetState:
    """How the instance is now: what unfencing will return it to."""
    return await asyncio.to_thread(inspect, inp.instance, inp.credentials)


@activity.defn(name=names.FENCE_TARGET)
async def fence_target(inp: FenceInput) -> TargetState:
    """read_only, stop replication, stop the server; idempotent."""
    async with Heartbeater(lambda: None):
        await asyncio.to_thread(fence, inp.state, inp.credentials)
    return inp.state


@activity.defn(name=names.UNFENCE_TARGET)
async def unfence_target(inp: FenceInput) -> TargetState:
    """Back to the recorded state (compensation), or writable after a commit; idempotent."""
    async with Heartbeater(lambda: None):
        await asyncio.to_thread(unfence, inp.state, inp.credentials, inp.restored)
    return inp.state
