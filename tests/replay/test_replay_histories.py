"""Replay recorded histories against the current workflow code (catches non-determinism).

A failure here means a workflow change would break runs already in flight: guard the change
with workflow.patched(...) or, if the change is deliberate and no old runs exist, re-record
with tests/replay/record_histories.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from shardkeeper.contracts import names
from shardkeeper.worker.registry import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_every_workflow_has_a_recorded_history() -> None:
    types = {p.name.split("-")[0] for p in HISTORIES}
    assert {names.BACKUP_RUN, names.SHARD_BACKUP, names.RESTORE, names.SHARD_RESTORE,
            names.CLUSTER_BUDGET} <= types
    registered = {workflow._Definition.must_from_class(w).name for w in WORKFLOWS}
    assert registered <= types, f"no recorded history for {registered - types}"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=list(WORKFLOWS),
                        data_converter=pydantic_data_converter)
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await replayer.replay_workflow(history)
