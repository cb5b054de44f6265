"""A workflow whose code changed incompatibly stays Running; it is never failed mid-saga.

The policy (docs/workflow-versioning.md): a non-determinism error fails the *workflow task*,
which the server retries, so the run waits for a fix and its compensations can still run.
Observed on the real dev server with the worker options of :func:`build_worker`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.worker import Worker

from fixtures.nondeterminism_probe import PROBE, IncompatibleProbe, OriginalProbe, step
from shardkeeper.worker.main import WORKFLOW_FAILURE_EXCEPTION_TYPES, build_worker
from shardkeeper.worker.registry import WORKFLOWS
from shardkeeper.worker.settings import WorkerSettings


def probe_worker(client: Client, queue: str, probe: type) -> Worker:
    """A worker with the production failure policy, running one probe implementation."""
    return Worker(client, task_queue=queue, workflows=[probe], activities=[step],
                  workflow_failure_exception_types=WORKFLOW_FAILURE_EXCEPTION_TYPES)


async def wait_for_event(handle: WorkflowHandle[object, object],
                         matches: Callable[[HistoryEvent], bool]) -> HistoryEvent:
    """The first history event that matches, long-polling the server for new events."""
    async with asyncio.timeout(20):
        async for event in handle.fetch_history_events(wait_new_event=True):
            if matches(event):
                return event
    raise AssertionError("the workflow closed without the expected event")


def is_nondeterminism_failure(event: HistoryEvent) -> bool:
    """A workflow task that failed because the code no longer matches the history."""
    return (event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
            and event.workflow_task_failed_event_attributes.cause
            == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR)


async def test_the_worker_never_turns_nondeterminism_into_a_workflow_failure(
    temporal_client: Client, tmp_path: Path
) -> None:
    config = build_worker(temporal_client, WorkerSettings(jobs_dir=tmp_path)).config()
    failing = tuple(config.get("workflow_failure_exception_types") or ())
    assert failing == WORKFLOW_FAILURE_EXCEPTION_TYPES
    assert not [t for t in failing if issubclass(workflow.NondeterminismError, t)]
    for defn in map(workflow._Definition.must_from_class, WORKFLOWS):
        per_type = defn.failure_exception_types or ()
        assert not [t for t in per_type if issubclass(workflow.NondeterminismError, t)], defn.name


async def test_an_incompatible_change_leaves_the_run_running_until_the_fix(
    temporal_client: Client,
) -> None:
    queue = f"nde-{uuid.uuid4()}"
    # A short task timeout: a workflow task held by the stopped incompatible worker is
    # handed to the fixed one soon after (the default is 10 s).
    handle = await temporal_client.start_workflow(
        PROBE, id=f"nde-{uuid.uuid4()}", task_queue=queue, task_timeout=timedelta(seconds=2))
    async with probe_worker(temporal_client, queue, OriginalProbe):
        await wait_for_event(
            handle, lambda e: e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)

    async with probe_worker(temporal_client, queue, IncompatibleProbe):
        await handle.signal(OriginalProbe.approve)
        failure = await wait_for_event(handle, is_nondeterminism_failure)
        assert "Nondeterminism" in failure.workflow_task_failed_event_attributes.failure.message
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

    async with probe_worker(temporal_client, queue, OriginalProbe):
        async with asyncio.timeout(20):
            assert await handle.result() == "completed"
