"""Restore and ShardRestore on the time-skipping server, activities faked by name.

The saga's order is what these tests pin down: compensations registered before their steps
and run newest first; one failing shard rolls back every shard; nothing destructive happens
before approval, even when approval takes days; cancel at any moment compensates.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from fixtures.wait import eventually
from restore.fakes import COMPENSATIONS, RestoreScenario
from shardkeeper.contracts import names
from shardkeeper.contracts.common import S3Location, TopologySource
from shardkeeper.contracts.restore import (
    QUERY_PROGRESS,
    SIGNAL_APPROVE,
    SIGNAL_CANCEL,
    ApproveInput,
    CancelInput,
    RestoreInput,
    RestorePhase,
    RestoreProgress,
    RestoreResult,
    RestoreSource,
)
from shardkeeper.control.stack.temporal_server import register_search_attributes
from shardkeeper.workflows.restore import RestoreWorkflow
from shardkeeper.workflows.shard_restore import ShardRestoreWorkflow

FORWARD = (names.FENCE_TARGET, names.SET_ASIDE_DATADIR, names.STAGE_RESTORE,
           names.START_INSTANCE)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(test_server_path: Path) -> AsyncIterator[WorkflowEnvironment]:
    e = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_path), data_converter=pydantic_data_converter
    )
    await register_search_attributes(e.client)
    await register_search_attributes(e.client, {names.SA_RESTORE_PHASE: "Keyword"})
    try:
        yield e
    finally:
        await e.shutdown()


def restore_input(**overrides: object) -> RestoreInput:
    base: dict[str, object] = {
        "name": f"r-{uuid.uuid4().hex[:6]}",
        "cluster": "demo",
        "target": TopologySource(kind="file", cluster="demo", path="/nonexistent"),
        "source": RestoreSource(location=S3Location(bucket="bucket", prefix="pfx")),
    }
    base.update(overrides)
    return RestoreInput.model_validate(base)


async def start(client: Client, queue: str, inp: RestoreInput) -> WorkflowHandle[
        RestoreWorkflow, RestoreResult]:
    return await client.start_workflow(
        RestoreWorkflow.run, inp, id=f"restore-{uuid.uuid4()}", task_queue=queue,
        execution_timeout=timedelta(days=30))


def worker(client: Client, sc: RestoreScenario, queue: str) -> Worker:
    return Worker(client, task_queue=queue, workflows=[RestoreWorkflow, ShardRestoreWorkflow],
                  activities=sc.activities())


async def test_cluster_restore_commits_every_shard_and_compensates_nothing(
    env: WorkflowEnvironment,
) -> None:
    sc = RestoreScenario()
    queue = f"tq-{uuid.uuid4()}"
    async with worker(env.client, sc, queue):
        handle = await start(env.client, queue, restore_input())
        result = await handle.result()
        progress = await handle.query(QUERY_PROGRESS, result_type=RestoreProgress)
    assert result.phase == RestorePhase.COMPLETED
    assert {(s.keyspace, s.shard, s.phase) for s in result.shards} == {
        ("commerce", "-", RestorePhase.COMPLETED), ("customer", "-80", RestorePhase.COMPLETED),
        ("customer", "80-", RestorePhase.COMPLETED)}
    assert progress.phase == RestorePhase.COMPLETED
    assert not [c for c in sc.calls if c[0] in COMPENSATIONS]
    for inst in ("commerce-x-0", "customer-x80-1"):
        steps = sc.for_target(inst)
        assert steps == [names.INSPECT_TARGET, names.FENCE_TARGET, names.SET_ASIDE_DATADIR,
                         names.STAGE_RESTORE, names.START_INSTANCE, "unfence_restored",
                         names.DISCARD_SET_ASIDE]
    # the old data is discarded only after every instance of the shard was unfenced
    shard_calls = [c for c in sc.calls if c[1].startswith("customer-x80")]
    last_unfence = max(i for i, c in enumerate(shard_calls) if c[0] == "unfence_restored")
    first_discard = min(i for i, c in enumerate(shard_calls) if c[0] == names.DISCARD_SET_ASIDE)
    assert last_unfence < first_discard
    # all or nothing: no shard unfences before every shard validated
    validated = [i for i, c in enumerate(sc.calls) if c[0] == names.VALIDATE_RESTORE]
    unfenced = [i for i, c in enumerate(sc.calls) if c[0] == "unfence_restored"]
    assert max(validated) < min(unfenced)


async def test_one_failing_shard_compensates_every_shard_in_reverse(
    env: WorkflowEnvironment,
) -> None:
    sc = RestoreScenario(fail={(names.VALIDATE_RESTORE, "customer/80-"): "RestoreValidationFailed"})
    queue = f"tq-{uuid.uuid4()}"
    async with worker(env.client, sc, queue):
        handle = await start(env.client, queue, restore_input())
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
        progress = await handle.query(QUERY_PROGRESS, result_type=RestoreProgress)
    assert "RestoreValidationFailed" in str(info.value.cause)
    assert progress.phase == RestorePhase.COMPENSATED, progress
    assert progress.needs_attention == ()
    assert {s.phase for s in progress.shards} == {RestorePhase.COMPENSATED}
    assert not sc.names_called("unfence_restored"), "nothing was ever unfenced forward"
    assert not sc.names_called(names.DISCARD_SET_ASIDE), "old data never discarded"
    for inst in ("customer-80x-0", "customer-80x-1", "commerce-x-0", "customer-x80-1"):
        steps = sc.for_target(inst)
        forward = [s for s in steps if s in FORWARD]
        undo = [s for s in steps if s in COMPENSATIONS]
        assert forward == [names.FENCE_TARGET, names.SET_ASIDE_DATADIR, names.STAGE_RESTORE,
                           names.START_INSTANCE], inst
        # newest first: stop the restored server, put the old datadir back, unfence
        assert undo == [names.STOP_INSTANCE, names.RETURN_DATADIR, names.UNFENCE_TARGET], inst
    # within a shard, compensation runs in exact reverse order of registration
    shard = [c for c in sc.calls if c[1].startswith("customer-80x") and c[0] in COMPENSATIONS]
    assert shard == [
        (names.STOP_INSTANCE, "customer-80x-1"), (names.STOP_INSTANCE, "customer-80x-0"),
        (names.RETURN_DATADIR, "customer-80x-1"), (names.RETURN_DATADIR, "customer-80x-0"),
        (names.UNFENCE_TARGET, "customer-80x-1"), (names.UNFENCE_TARGET, "customer-80x-0"),
    ]


async def test_failure_before_fencing_changes_nothing(env: WorkflowEnvironment) -> None:
    sc = RestoreScenario(fail={(names.VERIFY_BACKUP, "commerce/-"): "ChecksumMismatch"})
    queue = f"tq-{uuid.uuid4()}"
    async with worker(env.client, sc, queue):
        handle = await start(env.client, queue, restore_input())
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
        progress = await handle.query(QUERY_PROGRESS, result_type=RestoreProgress)
    assert "ChecksumMismatch" in str(info.value.cause)
    assert progress.phase == RestorePhase.FAILED
    assert not sc.names_called(names.FENCE_TARGET) and not sc.names_called(names.INSPECT_TARGET)


async def test_approval_waits_days_and_nothing_destructive_happens_before(
    env: WorkflowEnvironment,
) -> None:
    sc = RestoreScenario()
    queue = f"tq-{uuid.uuid4()}"
    async with worker(env.client, sc, queue):
        handle = await start(env.client, queue, restore_input(require_approval=True,
                                                              keyspace="commerce"))
        await env.sleep(timedelta(days=3))
        progress = await handle.query(QUERY_PROGRESS, result_type=RestoreProgress)
        assert progress.phase == RestorePhase.AWAITING_APPROVAL
        assert [c[0] for c in sc.calls] == [names.RESOLVE_SHARDS, names.RESOLVE_RESTORE_SET,
                                            names.VERIFY_BACKUP]
        await handle.signal(SIGNAL_APPROVE, ApproveInput(approved_by="oncall"))
        result = await handle.result()
    assert result.phase == RestorePhase.COMPLETED
    assert [s.keyspace for s in result.shards] == ["commerce"]
    history = await handle.fetch_history()
    assert sum(1 for e in history.events if e.HasField("timer_started_event_attributes")) == 0, (
        "the wait is a condition on the signal, not a polling timer")


@pytest.mark.parametrize("how", ["signal", "workflow-cancel"])
async def test_cancel_while_awaiting_approval_changes_nothing(
    env: WorkflowEnvironment, how: str
) -> None:
    sc = RestoreScenario()
    queue = f"tq-{uuid.uuid4()}"
    async with worker(env.client, sc, queue):
        handle = await start(env.client, queue, restore_input(require_approval=True))
        await env.sleep(timedelta(hours=5))
        if how == "signal":
            await handle.signal(SIGNAL_CANCEL, CancelInput(reason="wrong backup"))
        else:
            await handle.cancel()
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
        progress = await handle.query(QUERY_PROGRESS, result_type=RestoreProgress)
    assert progress.phase == RestorePhase.COMPENSATED
    if how == "workflow-cancel":
        assert isinstance(info.value.cause, CancelledError)
    else:
        assert "RestoreCancelled" in str(info.value.cause)
    assert not sc.names_called(names.INSPECT_TARGET)
    assert not [c for c in sc.calls if c[0] in FORWARD or c[0] in COMPENSATIONS]


async def test_cancel_during_restoring_runs_the_compensations(env: WorkflowEnvironment) -> None:
    sc = RestoreScenario(block_stage=True)
    queue = f"tq-{uuid.uuid4()}"
    async with worker(env.client, sc, queue):
        handle = await start(env.client, queue, restore_input(keyspace="customer"))
        await eventually(lambda: sc.names_called(names.STAGE_RESTORE), what="four stagings",
                         until=lambda staged: len(staged) == 4)
        progress = await handle.query(QUERY_PROGRESS, result_type=RestoreProgress)
        assert progress.phase == RestorePhase.RESTORING
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        sc.block_stage = False
        progress = await handle.query(QUERY_PROGRESS, result_type=RestoreProgress)
    assert progress.phase == RestorePhase.COMPENSATED
    for inst in ("customer-x80-0", "customer-x80-1", "customer-80x-0", "customer-80x-1"):
        undo = [s for s in sc.for_target(inst) if s in COMPENSATIONS]
        assert undo == [names.RETURN_DATADIR, names.UNFENCE_TARGET], inst
    assert not sc.names_called(names.START_INSTANCE)


async def test_concurrency_bound_prepares_one_shard_at_a_time(env: WorkflowEnvironment) -> None:
    sc = RestoreScenario()
    queue = f"tq-{uuid.uuid4()}"
    async with worker(env.client, sc, queue):
        handle = await start(env.client, queue, restore_input(max_concurrent_shards=1))
        result = await handle.result()
    assert result.phase == RestorePhase.COMPLETED
    order = [c for c in sc.calls if c[0] in (names.INSPECT_TARGET, names.VALIDATE_RESTORE)]
    # each shard validates before the next shard's first instance is even inspected
    shards_seen = [c[1] for c in order if c[0] == names.VALIDATE_RESTORE]
    assert len(shards_seen) == 3
    firsts = [i for i, c in enumerate(order) if c[0] == names.INSPECT_TARGET
              and c[1].endswith("-0")]
    validates = [i for i, c in enumerate(order) if c[0] == names.VALIDATE_RESTORE]
    assert firsts[1] > validates[0] and firsts[2] > validates[1]
