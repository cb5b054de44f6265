"""BackupRun and ShardBackup on the time-skipping server, activities faked by name.

The stagger sleeps last up to an hour of server time; time skipping makes them instant, and
the fakes record on the server clock when each shard's first activity was scheduled.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from fixtures.fake_activities import Scenario
from shardkeeper import naming, stagger
from shardkeeper.contracts import names
from shardkeeper.contracts.backup import (
    BackupPolicy,
    BackupRunInput,
    BackupRunResult,
    Outcome,
    Scope,
    ShardBackupInput,
    StrategyPlan,
)
from shardkeeper.contracts.common import S3Location, TopologySource
from shardkeeper.control.stack.temporal_server import register_search_attributes
from shardkeeper.workflows.backup_run import BackupRunWorkflow
from shardkeeper.workflows.cluster_budget import ClusterBudgetWorkflow
from shardkeeper.workflows.shard_backup import ShardBackupWorkflow

WINDOW = 3600


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(test_server_path: Path) -> AsyncIterator[WorkflowEnvironment]:
    e = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_path), data_converter=pydantic_data_converter
    )
    # the time-skipping server knows no custom search attributes until told
    await register_search_attributes(e.client)
    try:
        yield e
    finally:
        await e.shutdown()


def run_input(cluster: str = "demo", **overrides: object) -> BackupRunInput:
    base: dict[str, object] = {
        "cluster": cluster,
        "schedule": "nightly",
        "topology_source": TopologySource(kind="file", cluster=cluster, path="/nonexistent"),
        "strategies": (StrategyPlan(name="all", scope=Scope.CLUSTER),),
        "policy": BackupPolicy(destination=S3Location(bucket="bucket", prefix="pfx")),
        "stagger_window_seconds": WINDOW,
    }
    base.update(overrides)
    return BackupRunInput.model_validate(base)


async def run_scenario(
    client: Client, sc: Scenario, inp: BackupRunInput
) -> tuple[BackupRunResult, str]:
    """Run one BackupRun with the fakes; returns its result and workflow id."""
    queue = f"tq-{uuid.uuid4()}"
    wid = f"run-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue,
                      workflows=[BackupRunWorkflow, ShardBackupWorkflow, ClusterBudgetWorkflow],
                      activities=sc.activities()):
        result = await client.execute_workflow(
            names.BACKUP_RUN, inp, id=wid, task_queue=queue, result_type=BackupRunResult,
        )
    return result, wid


async def test_run_fans_out_one_child_per_shard_at_its_stagger_offset(
    env: WorkflowEnvironment,
) -> None:
    sc = Scenario()
    start = await env.get_current_time()
    result, _ = await run_scenario(env.client, sc, run_input())

    assert {(s.keyspace, s.shard) for s in result.shards} == {
        ("commerce", "-"), ("customer", "-80"), ("customer", "80-")}
    assert all(s.outcome == Outcome.SUCCEEDED for s in result.shards)
    expected = stagger.offsets(
        [stagger.StaggerKey("demo", s.keyspace, s.shard, "all") for s in result.shards], WINDOW)
    for key, offset in expected.items():
        at = sc.readiness_scheduled[f"{key.keyspace}/{key.shard}"]
        assert abs((at - start).total_seconds() - offset) < 5, (key, offset, at - start)
    assert len(set(expected.values())) == 3, "three shards, three distinct slots"
    # every shard's manifest was written after its upload was verified
    for manifest in sc.names_called(names.WRITE_MANIFEST):
        verify_at = sc.calls.index((names.VERIFY_UPLOAD, manifest.object_key))
        assert verify_at < sc.calls.index((names.WRITE_MANIFEST, manifest))
        assert manifest.sha256 and manifest.binlog.gtid == "0-1-42"
    assert len(sc.names_called(names.LAUNCH_BACKUP)) == 3


async def test_shard_not_ready_is_skipped_and_others_proceed(env: WorkflowEnvironment) -> None:
    sc = Scenario(not_ready={"customer/-80"})
    result, _ = await run_scenario(env.client, sc, run_input())
    by_shard = {(s.keyspace, s.shard): s for s in result.shards}
    assert by_shard[("customer", "-80")].outcome == Outcome.SKIPPED
    assert "lag" in (by_shard[("customer", "-80")].reason or "")
    assert by_shard[("customer", "80-")].outcome == Outcome.SUCCEEDED
    launched = {i.request.shard for i in sc.names_called(names.LAUNCH_BACKUP)}
    assert launched == {"-", "80-"}


async def test_failed_job_is_replaced_by_a_new_job_that_supersedes_it(
    env: WorkflowEnvironment,
) -> None:
    backup_id = "20261122T020000Z"
    inp = run_input(
        strategies=(StrategyPlan(name="c", scope=Scope.SHARD, keyspace="commerce", shard="-"),),
        backup_id=backup_id,
    )
    first = naming.job_name("demo", "nightly", "commerce", "-", "c", backup_id, 1)
    sc = Scenario(failing_jobs={first})
    result, _ = await run_scenario(env.client, sc, inp)
    launches = sc.names_called(names.LAUNCH_BACKUP)
    assert [launch.job_name for launch in launches] == [
        first, naming.job_name("demo", "nightly", "commerce", "-", "c", backup_id, 2)]
    assert launches[1].supersedes == (first,)
    assert result.shards[0].outcome == Outcome.SUCCEEDED
    assert result.backup_id == backup_id


async def test_checksum_mismatch_fails_the_shard_and_writes_no_manifest(
    env: WorkflowEnvironment,
) -> None:
    sc = Scenario(corrupt={"customer/80-"})
    result, _ = await run_scenario(env.client, sc, run_input())
    by_shard = {(s.keyspace, s.shard): s for s in result.shards}
    failed = by_shard[("customer", "80-")]
    assert failed.outcome == Outcome.FAILED
    assert "ChecksumMismatch" in (failed.reason or "") or "sha256" in (failed.reason or "")
    written = {m.shard for m in sc.names_called(names.WRITE_MANIFEST)}
    assert written == {"-", "-80"}
    # a permanent error is not retried as a new job
    assert len([j for j in sc.names_called(names.LAUNCH_BACKUP) if j.request.shard == "80-"]) == 1


async def test_keyspace_exclusion_and_unknown_shard_are_recorded(env: WorkflowEnvironment) -> None:
    sc = Scenario()
    inp = run_input(
        strategies=(
            StrategyPlan(name="all", scope=Scope.CLUSTER),
            StrategyPlan(name="gone", scope=Scope.SHARD, keyspace="customer", shard="c0-"),
        ),
        excluded_keyspaces=("customer",),
    )
    result, _ = await run_scenario(env.client, sc, inp)
    assert {(s.keyspace, s.shard) for s in result.shards} == {("commerce", "-")}
    assert [(s.shard, s.reason) for s in result.skipped] == [
        ("c0-", "shard not found in the topology")]


async def test_shard_backup_fails_red_when_every_job_fails(env: WorkflowEnvironment) -> None:
    sc = Scenario()
    inp = ShardBackupInput(
        cluster="demo", schedule="nightly", strategy="s", backup_id="20261122T020000Z",
        shard=sc.topology.shards[0], credentials=sc.topology.credentials,
        policy=BackupPolicy(destination=S3Location(bucket="bucket")),
    )
    sc.failing_jobs = {naming.job_name("demo", "nightly", "commerce", "-", "s", inp.backup_id, a)
                       for a in (1, 2, 3)}
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[ShardBackupWorkflow],
                      activities=sc.activities()):
        with pytest.raises(WorkflowFailureError) as info:
            await env.client.execute_workflow(names.SHARD_BACKUP, inp, id=str(uuid.uuid4()),
                                              task_queue=queue)
    assert "engine exited 1" in str(info.value.cause)
    assert len(sc.names_called(names.LAUNCH_BACKUP)) == 3
    assert sc.names_called(names.WRITE_MANIFEST) == []


async def test_forbid_skips_a_shard_whose_previous_backup_still_runs(
    env: WorkflowEnvironment,
) -> None:
    sc = Scenario(previous_running=("shardkeeper/demo/nightly/20261121T020000Z/x",))
    result, _ = await run_scenario(env.client, sc, run_input())
    assert {s.outcome for s in result.shards} == {Outcome.SKIPPED}
    assert all("previous backup still running" in (s.reason or "") for s in result.shards)
    assert sc.names_called(names.LAUNCH_BACKUP) == []


async def test_allow_does_not_look_for_previous_backups(env: WorkflowEnvironment) -> None:
    sc = Scenario(previous_running=("shardkeeper/demo/nightly/20261121T020000Z/x",))
    policy = BackupPolicy(destination=S3Location(bucket="bucket"), concurrency_policy="Allow")
    result, _ = await run_scenario(env.client, sc, run_input(policy=policy))
    assert {s.outcome for s in result.shards} == {Outcome.SUCCEEDED}
    assert sc.names_called(names.FIND_RUNNING_BACKUPS) == []


async def test_strategy_extra_flags_reach_the_agent_request(env: WorkflowEnvironment) -> None:
    sc = Scenario()
    inp = run_input(strategies=(
        StrategyPlan(name="tuned", scope=Scope.KEYSPACE, keyspace="customer",
                     extra_flags={"use-memory": "64M"}),
        StrategyPlan(name="plain", scope=Scope.SHARD, keyspace="commerce", shard="-"),
    ))
    await run_scenario(env.client, sc, inp)
    flags = {launch.request.shard: launch.request.extra_flags
             for launch in sc.names_called(names.LAUNCH_BACKUP)}
    assert flags == {"-80": {"use-memory": "64M"}, "80-": {"use-memory": "64M"}, "-": {}}
