"""The replay test catches an unguarded workflow change and accepts the same change patched.

What docs/workflow-versioning.md asks of every change to a workflow's command sequence, shown
on a probe: a history recorded with the original code replays against the patched code, and
fails with a non-determinism error against the same change made without ``workflow.patched``.
"""

from __future__ import annotations

import uuid

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from fixtures.nondeterminism_probe import (
    PROBE,
    IncompatibleProbe,
    OriginalProbe,
    PatchedProbe,
    step,
)


async def recorded_before_the_change(client: Client) -> WorkflowHistory:
    """A complete run of the original code (fence, approval signal, unfence)."""
    queue = f"patched-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[OriginalProbe], activities=[step]):
        handle = await client.start_workflow(PROBE, id=f"patched-{uuid.uuid4()}",
                                             task_queue=queue)
        await handle.signal(OriginalProbe.approve)
        assert await handle.result() == "completed"
    return await handle.fetch_history()


def replayer(probe: type) -> Replayer:
    """A replayer of one implementation of the probe type, with the worker's converter."""
    return Replayer(workflows=[probe], data_converter=pydantic_data_converter)


async def test_a_change_behind_patched_replays_and_an_unguarded_one_does_not(
    temporal_client: Client,
) -> None:
    history = await recorded_before_the_change(temporal_client)
    await replayer(OriginalProbe).replay_workflow(history)
    await replayer(PatchedProbe).replay_workflow(history)
    with pytest.raises(workflow.NondeterminismError):
        await replayer(IncompatibleProbe).replay_workflow(history)
