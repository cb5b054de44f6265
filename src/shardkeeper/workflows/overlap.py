"""Overlap and missed runs of one ShardBackup, decided per slot (called from ShardBackup).

**Missed runs.** ``startingDeadlineSeconds`` is the Temporal Schedule's catch-up window, so a
slot that falls in a *server* outage longer than that never starts. A *worker* outage is not
a missed run to Temporal: the server starts the run on time and it waits for a worker. So
ShardBackup enforces the deadline itself, after its stagger sleep: a shard that would start
more than ``startingDeadlineSeconds`` after it was due is skipped with the reason
``missed: ...``. It is due at ``max(slot time, run start) + offset``: the slot time is the
run's ``TemporalScheduledStartTime``; the run start counts for a backfill (or a catch-up
Temporal allowed), which Temporal starts after the slot on purpose. A run without a slot time
(started by hand) has no deadline.

**Overlap.** It means a backup of the same (cluster, schedule, strategy, keyspace, shard) from
an *earlier* slot that is past its stagger sleep and still working. A child past its sleep
first *claims* the shard (upserts ``ShardkeeperStrategy`` and ``ShardkeeperPhase=working``),
then asks visibility for working backups with a smaller backup id. Visibility is eventually
consistent, and in a backfill or a catch-up every slot wakes at nearly the same instant, so a
look made right after the claim would miss the claims the other slots made in the same
second: such a look waits ``SETTLE`` first. Claim first, look after: of two slots that claim
at once, each sees the other's claim. The wait is paid only when a claim might be unseen: the
backup is catching up (it claims more than ``CATCH_UP_LAG`` after its slot plus offset), or
another running ShardBackup of an earlier (or unknown) slot exists on the shard. A lone
backup on time asks once and starts at once.

* ``Forbid``: any earlier working slot → skipped, the reason naming the earliest one.
* ``Replace``: the earlier ones are cancelled; this one waits until they have closed (their
  agent job stopped and its multipart upload aborted, see ``AWAIT_BACKUP_CANCEL``) and runs.
* ``Allow``: claims (for the Web UI and a later policy change) but never looks.

Only an earlier slot ever makes a backup skip or cancels it, so the earliest slot of a
Forbid batch always runs and the latest of a Replace batch always runs: however late
visibility is, Forbid never skips them all and Replace never cancels them all. The residual
race is the other way: a claim that becomes visible more than ``SETTLE`` after it was made is
missed, and then two slots run side by side (as with ``Allow``) until one finishes. Backups
recorded before this change never claim, so they are invisible to the new query.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from shardkeeper.contracts import names
    from shardkeeper.contracts.backup import ShardBackupInput
    from shardkeeper.contracts.budget import (
        FindRunningBackupsInput,
        FindRunningBackupsResult,
        RunningBackup,
        RunningWorkflowsInput,
        RunningWorkflowsResult,
    )
    from shardkeeper.workflows import policies, search

PATCH_STARTING_DEADLINE = "shard-backup-starting-deadline"
"""ShardBackup enforces ``startingDeadlineSeconds`` after its stagger sleep."""
PATCH_SLOT_OVERLAP = "shard-backup-overlap-per-slot"
"""Claim, then look for earlier working slots of the same strategy (replaces the old query)."""
AWAIT_BACKUP_CANCEL = "shard-backup-await-cancellation"
"""A cancelled ShardBackup waits until its agent job has stopped before it closes."""

SETTLE = timedelta(seconds=3)
"""Between the two looks: longer than the visibility lag of the dev server and of an
Elasticsearch store's refresh interval (1 s by default); a Forbid or Replace backup starts
this much later, when it waits at all (see ``earlier_working``)."""
CATCH_UP_LAG = timedelta(seconds=30)
"""A backup claiming more than this after it was due is catching up (see ``catching_up``):
well above the seconds a scheduled run takes to start its children."""
CLOSE_POLL = timedelta(seconds=2)
CLOSE_WAIT_POLLS = 150
"""Replace waits at most this many polls (5 minutes) for the cancelled backups to close."""


def missed_reason(inp: ShardBackupInput) -> str | None:
    """``missed: ...`` when this shard starts past its starting deadline; None otherwise."""
    deadline = inp.policy.starting_deadline_seconds
    if not deadline or inp.slot_time is None:
        return None
    started = inp.run_started_at or inp.slot_time
    due = max(inp.slot_time, started) + timedelta(seconds=inp.offset_seconds)
    late = (workflow.now() - due).total_seconds()
    if late <= deadline:
        return None
    return (
        f"missed: the backup of slot {inp.backup_id} would start {late:.0f}s after it was due "
        f"(slot time plus its +{inp.offset_seconds}s offset), past startingDeadlineSeconds "
        f"{deadline} (no worker ran it in time)"
    )


def claim(inp: ShardBackupInput) -> None:
    """Mark this backup as working on its shard for its strategy (what the query looks for)."""
    workflow.upsert_search_attributes([
        search.STRATEGY.value_set(inp.strategy),
        search.PHASE.value_set(names.PHASE_WORKING),
    ])


async def earlier_working(inp: ShardBackupInput) -> tuple[RunningBackup, ...]:
    """Working backups of earlier slots (same strategy and shard), earliest first.

    Called right after :func:`claim`. The ``SETTLE`` wait (see the module docstring) is only
    paid when a claim might still be invisible: when this backup is catching up
    (:func:`catching_up`: a backfill, a catch-up or a worker outage wakes several slots at
    once), or when another running ShardBackup of an earlier (or unknown) slot exists on the
    shard at all. A lone backup on time asks visibility once and never waits.
    """
    if not catching_up(inp) and not await _earlier_running(inp):
        return ()
    await workflow.sleep(SETTLE, summary="let overlapping claims become visible")
    answer = await workflow.execute_activity(
        names.FIND_RUNNING_BACKUPS,
        FindRunningBackupsInput(
            cluster=inp.cluster, schedule=inp.schedule, keyspace=inp.shard.keyspace,
            shard=inp.shard.shard, exclude_workflow_id=workflow.info().workflow_id,
            strategy=inp.strategy, earlier_than=inp.backup_id,
        ),
        result_type=FindRunningBackupsResult,
        **policies.RESOLVE.options(),
    )
    return tuple(sorted(answer.backups, key=lambda b: (b.backup_id, b.workflow_id)))


def catching_up(inp: ShardBackupInput) -> bool:
    """Whether this backup claims well after it was due (slot time plus its offset).

    A slot on time wakes alone; a late one (backfill, catch-up, the end of a worker outage)
    may wake with the other late slots in the same second, before their runs or claims are
    visible, so it always lets them settle. No slot time (a manual run): not catching up.
    """
    if inp.slot_time is None:
        return False
    due = inp.slot_time + timedelta(seconds=inp.offset_seconds)
    return workflow.now() - due > CATCH_UP_LAG


async def _earlier_running(inp: ShardBackupInput) -> bool:
    """Any other running ShardBackup of the shard whose slot is earlier or unknown.

    Whatever its strategy or phase: one still sleeping in its stagger, or one whose claim
    is not visible yet, is enough to make the precise look worth its settle wait. A later
    slot never makes this backup skip, so it does not count.
    """
    found = await _running_of_shard(inp)
    return any(not b.backup_id or b.backup_id < inp.backup_id for b in found.backups)


async def _running_of_shard(inp: ShardBackupInput) -> FindRunningBackupsResult:
    """Every other running ShardBackup of the schedule's shard (any slot, strategy, phase)."""
    found: FindRunningBackupsResult = await workflow.execute_activity(
        names.FIND_RUNNING_BACKUPS,
        FindRunningBackupsInput(
            cluster=inp.cluster, schedule=inp.schedule, keyspace=inp.shard.keyspace,
            shard=inp.shard.shard, exclude_workflow_id=workflow.info().workflow_id,
        ),
        result_type=FindRunningBackupsResult,
        **policies.RESOLVE.options(),
    )
    return found


def forbid_reason(earlier: tuple[RunningBackup, ...]) -> str:
    """Why a Forbid backup is skipped: the earliest slot that holds the shard."""
    holder = earlier[0]
    others = f" (and {len(earlier) - 1} more)" if len(earlier) > 1 else ""
    return (
        f"previous backup still running (concurrencyPolicy Forbid): slot {holder.backup_id} "
        f"holds the shard, workflow {holder.workflow_id}{others}"
    )


async def replace(earlier: tuple[RunningBackup, ...]) -> None:
    """Cancel the earlier backups and wait (bounded) until none of them runs any more."""
    for backup in earlier:
        try:
            await workflow.get_external_workflow_handle(backup.workflow_id).cancel()
        except FailureError as err:  # it closed meanwhile: nothing to cancel
            workflow.logger.info("earlier backup already closed",
                                 extra={"workflow_id": backup.workflow_id, "error": str(err)})
    ids = tuple(b.workflow_id for b in earlier)
    for _ in range(CLOSE_WAIT_POLLS):
        running = await workflow.execute_activity(
            names.RUNNING_WORKFLOWS,
            RunningWorkflowsInput(workflow_ids=ids),
            result_type=RunningWorkflowsResult,
            **policies.RESOLVE.options(),
        )
        if not running.running:
            return
        ids = running.running
        await workflow.sleep(CLOSE_POLL, summary="wait for the replaced backups to stop")
    workflow.logger.warning("replaced backups still running; starting anyway",
                            extra={"workflow_ids": list(ids)})


async def recorded_overlap(inp: ShardBackupInput) -> str | None:
    """The rule of runs recorded before ``PATCH_SLOT_OVERLAP``, kept so they replay.

    Every running ShardBackup of the schedule's shard counts, whatever its slot, strategy
    or stagger sleep (Allow: not looked up).
    """
    if inp.policy.concurrency_policy == "Allow":
        return None
    found = await _running_of_shard(inp)
    previous = tuple(found.workflow_ids)
    if previous and inp.policy.concurrency_policy == "Forbid":
        return f"previous backup still running (concurrencyPolicy Forbid): {', '.join(previous)}"
    for wid in previous:  # Replace: the newer slot wins
        await workflow.get_external_workflow_handle(wid).cancel()
    return None
