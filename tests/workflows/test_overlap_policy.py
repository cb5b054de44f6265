"""Overlap is decided per (strategy, slot): ShardBackup on the time-skipping server, fakes.

The fake ``find_running_backups`` filters like the real query (strategy, claimed, earlier
slot), so these check the workflow's side: only a *claimed* backup of the *same strategy*
and an *earlier slot* makes a backup skip (Forbid) or be cancelled (Replace); a lone backup
on time asks visibility once and never waits the settle.
"""

from __future__ import annotations

import uuid

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from fixtures.fake_activities import Scenario
from shardkeeper.contracts import names
from shardkeeper.contracts.backup import (
    BackupPolicy,
    Outcome,
    ShardBackupInput,
    ShardBackupResult,
)
from shardkeeper.contracts.common import S3Location
from shardkeeper.workflows.shard_backup import ShardBackupWorkflow

SLOT = "20261122T020000Z"
EARLIER, LATER = "20261121T020000Z", "20261123T020000Z"


@pytest.fixture
def env(time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    return time_skipping_env


def running(backup_id: str, strategy: str = "mine") -> str:
    """The workflow id of another ShardBackup of the shard (its slot is read from it)."""
    return f"shardkeeper/demo/nightly/{backup_id}/{strategy}/commerce/x"


async def back_up(client: Client, sc: Scenario, policy: str) -> tuple[ShardBackupResult, str]:
    """One ShardBackup of strategy ``mine`` at ``SLOT``; its result and workflow id."""
    shard = sc.topology.shards[0]
    queue, wid = f"tq-{uuid.uuid4()}", f"ov-{uuid.uuid4()}"
    inp = ShardBackupInput(
        cluster="demo", schedule="nightly", strategy="mine", backup_id=SLOT, shard=shard,
        credentials=sc.topology.credentials,
        policy=BackupPolicy(destination=S3Location(bucket="bucket"), concurrency_policy=policy))
    async with Worker(client, task_queue=queue, workflows=[ShardBackupWorkflow],
                      activities=sc.activities()):
        result = await client.execute_workflow(
            names.SHARD_BACKUP, inp, id=wid, task_queue=queue, result_type=ShardBackupResult)
    return result, wid


async def cancels_requested(client: Client, wid: str) -> int:
    """How many external workflows the ShardBackup asked to cancel (Replace)."""
    history = await client.get_workflow_handle(wid).fetch_history()
    cancel = EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
    return sum(e.event_type == cancel for e in history.events)


NEVER_OVERLAP = {
    "another strategy, earlier slot": {running(EARLIER, "other"): "other"},
    "same strategy, later slot": {running(LATER): "mine"},
    "same strategy, earlier slot, still in its stagger": {running(EARLIER): None},
    "same slot, another strategy": {running(SLOT, "other"): "other"},
}


@pytest.mark.parametrize("policy", ["Forbid", "Replace"])
@pytest.mark.parametrize("claims", NEVER_OVERLAP.values(), ids=NEVER_OVERLAP.keys())
async def test_other_strategies_and_later_slots_never_make_a_backup_skip(
    env: WorkflowEnvironment, policy: str, claims: dict[str, str | None],
) -> None:
    sc = Scenario(claims=claims)
    result, wid = await back_up(env.client, sc, policy)
    assert result.outcome == Outcome.SUCCEEDED, result.reason
    assert await cancels_requested(env.client, wid) == 0
    assert len(sc.names_called(names.LAUNCH_BACKUP)) == 1


async def test_forbid_skips_for_an_earlier_working_slot_of_the_same_strategy(
    env: WorkflowEnvironment,
) -> None:
    holder = running(EARLIER)
    sc = Scenario(claims={holder: "mine", running(LATER): "mine",
                          running(EARLIER, "other"): "other"})
    result, _ = await back_up(env.client, sc, "Forbid")
    assert result.outcome == Outcome.SKIPPED
    assert f"slot {EARLIER} holds the shard, workflow {holder}" in (result.reason or "")
    assert "more" not in (result.reason or ""), "only the one earlier slot of its strategy"
    assert sc.names_called(names.LAUNCH_BACKUP) == []


@workflow.defn(name="OverlapTestHolder", sandboxed=False)
class Holder:
    """Stands for another ShardBackup: runs until cancelled."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


async def test_replace_cancels_only_the_earlier_working_slot_of_the_same_strategy(
    env: WorkflowEnvironment,
) -> None:
    earlier, later, other = running(EARLIER), running(LATER), running(EARLIER, "other")
    sc = Scenario(claims={earlier: "mine", later: "mine", other: "other"})
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[Holder]):
        holders = {w: await env.client.start_workflow(
            Holder.run, id=w, task_queue=queue) for w in sc.claims}
        try:
            result, wid = await back_up(env.client, sc, "Replace")
            assert result.outcome == Outcome.SUCCEEDED, result.reason
            assert await cancels_requested(env.client, wid) == 1
            status = {w: (await h.describe()).status for w, h in holders.items()}
            assert status == {earlier: WorkflowExecutionStatus.CANCELED,
                              later: WorkflowExecutionStatus.RUNNING,
                              other: WorkflowExecutionStatus.RUNNING}
        finally:
            for w, h in holders.items():
                if w != earlier:
                    await h.terminate("test over")


@pytest.mark.parametrize("claims", [{}, {running(LATER): "mine"}], ids=["alone", "later-only"])
async def test_a_backup_on_time_with_no_earlier_slot_running_looks_once(
    env: WorkflowEnvironment, claims: dict[str, str | None],
) -> None:
    sc = Scenario(claims=claims)
    result, wid = await back_up(env.client, sc, "Forbid")
    assert result.outcome == Outcome.SUCCEEDED, result.reason
    assert len(sc.names_called(names.FIND_RUNNING_BACKUPS)) == 1
    history = await env.client.get_workflow_handle(wid).fetch_history()
    assert not [e for e in history.events
                if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED], "no settle wait"
