"""Record the golden histories replayed by test_replay_histories.py.

Run from the repository root after a deliberate workflow change (and say why in the
commit): ``.venv/bin/python tests/replay/record_histories.py``. It runs each scenario on the
time-skipping server with the fake activities and writes one JSON history per workflow.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from temporalio.client import Client  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from fixtures.fake_activities import Scenario  # noqa: E402
from shardkeeper import naming  # noqa: E402
from shardkeeper.contracts import names  # noqa: E402
from shardkeeper.contracts.backup import (  # noqa: E402
    BackupPolicy,
    BackupRunInput,
    BackupRunResult,
    Scope,
    StrategyPlan,
)
from shardkeeper.contracts.common import S3Location, TopologySource  # noqa: E402
from shardkeeper.contracts.verify import (  # noqa: E402 - type hints of the verify fakes
    AgentVerifyReport,
    ListVerifyTargetsInput,
    ListVerifyTargetsResult,
    VerifyBackupsInput,
    VerifyCheck,
    VerifyJobInput,
    VerifyTarget,
)
from shardkeeper.control.stack.temporal_server import (  # noqa: E402
    register_search_attributes,
    test_server_path,
)
from shardkeeper.workflows.backup_run import BackupRunWorkflow  # noqa: E402
from shardkeeper.workflows.shard_backup import ShardBackupWorkflow  # noqa: E402

BACKUP_ID = "20261122T020000Z"


def scenario_input() -> BackupRunInput:
    """A Cluster and a Shard strategy over the demo topology, one keyspace excluded."""
    return BackupRunInput(
        cluster="demo",
        schedule="nightly",
        topology_source=TopologySource(kind="file", cluster="demo", path="/nonexistent"),
        strategies=(StrategyPlan(name="all", scope=Scope.CLUSTER),),
        policy=BackupPolicy(destination=S3Location(bucket="bucket", prefix="pfx")),
        stagger_window_seconds=3600,
        backup_id=BACKUP_ID,
    )


async def record(client: Client, out: Path) -> None:
    """Run the scenario (one shard not ready, one job failing once) and dump histories."""
    sc = Scenario(
        not_ready={"customer/-80"},
        failing_jobs={naming.job_name("demo", "nightly", "commerce", "-", "all", BACKUP_ID, 1)},
    )
    queue = f"record-{uuid.uuid4()}"
    run_id = "shardkeeper/demo/nightly/run-recorded"
    async with Worker(client, task_queue=queue,
                      workflows=[BackupRunWorkflow, ShardBackupWorkflow],
                      activities=sc.activities()):
        result = await client.execute_workflow(names.BACKUP_RUN, scenario_input(), id=run_id,
                                               task_queue=queue, result_type=BackupRunResult)
    histories = {f"{names.BACKUP_RUN}-mixed-outcomes": run_id}
    for shard in result.shards:
        histories[f"{names.SHARD_BACKUP}-{shard.keyspace}-{shard.outcome.value}"] = (
            shard.workflow_id or "")
    for label, wid in histories.items():
        history = await client.get_workflow_handle(wid).fetch_history()
        (out / f"{label.replace('/', '_')}.json").write_text(history.to_json())
        print("recorded", label)


async def record_budget(env: WorkflowEnvironment, out: Path) -> None:
    """Three shards through a budget of one: the ClusterBudget grants, queues and releases."""
    from shardkeeper.workflows.cluster_budget import ClusterBudgetWorkflow

    sc = Scenario(await_seconds=0.2)
    queue = f"record-{uuid.uuid4()}"
    inp = scenario_input().model_copy(update={
        "cluster": "budgeted", "stagger_window_seconds": 0,
        "policy": BackupPolicy(destination=S3Location(bucket="bucket"),
                               max_concurrent_shards=1)})
    # real time: waiting for a lease has no timer, auto-skipping would jump to timeouts
    with env.auto_time_skipping_disabled():
        async with Worker(env.client, task_queue=queue,
                          workflows=[BackupRunWorkflow, ShardBackupWorkflow,
                                     ClusterBudgetWorkflow],
                          activities=sc.activities()):
            await env.client.execute_workflow(
                names.BACKUP_RUN, inp, id="shardkeeper/budgeted/nightly/run-recorded",
                task_queue=queue, result_type=BackupRunResult)
            budget = env.client.get_workflow_handle(naming.budget_workflow_id("budgeted"))
            history = await budget.fetch_history()
    (out / f"{names.CLUSTER_BUDGET}-three-holders.json").write_text(history.to_json())
    print("recorded", names.CLUSTER_BUDGET)


async def record_restores(client: Client, out: Path) -> None:
    """A restore that completes, and one whose shard fails and compensates (all or nothing)."""
    from restore.fakes import RestoreScenario
    from shardkeeper.contracts.common import S3Location, TopologySource
    from shardkeeper.contracts.restore import RestoreInput, RestoreSource
    from shardkeeper.workflows.restore import RestoreWorkflow
    from shardkeeper.workflows.shard_restore import ShardRestoreWorkflow

    await register_search_attributes(client, {names.SA_RESTORE_PHASE: "Keyword"})
    for label, fail in (("completed", {}),
                        ("compensated", {(names.VALIDATE_RESTORE, "customer/80-"): "Injected"})):
        sc = RestoreScenario(fail=fail)
        queue = f"record-{uuid.uuid4()}"
        wid = f"shardkeeper/demo/restore/recorded-{label}"
        inp = RestoreInput(
            name=f"recorded-{label}", cluster="demo",
            target=TopologySource(kind="file", cluster="demo", path="/nonexistent"),
            source=RestoreSource(location=S3Location(bucket="bucket", prefix="pfx")),
            keyspace="customer", require_approval=True)
        async with Worker(client, task_queue=queue,
                          workflows=[RestoreWorkflow, ShardRestoreWorkflow],
                          activities=sc.activities()):
            handle = await client.start_workflow(RestoreWorkflow.run, inp, id=wid,
                                                 task_queue=queue)
            await handle.signal("approve", {"approved_by": "recorder"})
            try:
                await handle.result()
            except Exception as err:  # the compensated scenario fails on purpose
                print("restore ended with", type(err).__name__)
        for target in ((names.RESTORE, wid),
                       (names.SHARD_RESTORE, f"{wid}/customer/80-")):
            history = await client.get_workflow_handle(target[1]).fetch_history()
            (out / f"{target[0]}-{label}.json").write_text(history.to_json())
            print("recorded", target[0], label)


async def record_verify(client: Client, out: Path) -> None:
    """Two backups verified through fake jobs: one passes, one fails its sha256 check."""
    from datetime import UTC, datetime

    from temporalio import activity

    from shardkeeper.workflows.verify import VerifyBackupsWorkflow

    @activity.defn(name=names.LIST_VERIFY_TARGETS)
    async def list_verify_targets(inp: ListVerifyTargetsInput) -> ListVerifyTargetsResult:
        return ListVerifyTargetsResult(targets=tuple(
            VerifyTarget(keyspace="customer", shard=sh, directory=f"{BACKUP_ID}_x-1",
                         backup_id=BACKUP_ID) for sh in ("-80", "80-")))

    @activity.defn(name=names.VERIFY_BACKUP_JOB)
    async def verify_backup_job(inp: VerifyJobInput) -> AgentVerifyReport:
        r = inp.request
        ok = r.shard == "-80"
        return AgentVerifyReport(
            time=datetime(2026, 12, 4, tzinfo=UTC), cluster=r.cluster, keyspace=r.keyspace,
            shard=r.shard, backup_id=r.backup_id, directory=r.directory,
            result="passed" if ok else "failed",
            checks=(VerifyCheck(name="sha256", ok=ok, detail="recorded"),))

    queue = f"record-{uuid.uuid4()}"
    wid = "shardkeeper/demo/verify/recorded"
    async with Worker(client, task_queue=queue, workflows=[VerifyBackupsWorkflow],
                      activities=[list_verify_targets, verify_backup_job]):
        await client.execute_workflow(
            names.VERIFY_BACKUPS,
            VerifyBackupsInput(cluster="demo", destination=S3Location(bucket="bucket")),
            id=wid, task_queue=queue)
    history = await client.get_workflow_handle(wid).fetch_history()
    (out / f"{names.VERIFY_BACKUPS}-one-failed.json").write_text(history.to_json())
    print("recorded", names.VERIFY_BACKUPS)


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_path()), data_converter=pydantic_data_converter)
    await register_search_attributes(env.client)
    try:
        # `record_histories.py restore|budget|verify` records only those histories
        if sys.argv[1:] == ["verify"]:
            await record_verify(env.client, HERE / "histories")
            return
        if sys.argv[1:] == ["budget"]:
            await record_budget(env, HERE / "histories")
            return
        if sys.argv[1:] != ["restore"]:
            await record(env.client, HERE / "histories")
            await record_budget(env, HERE / "histories")
        await record_restores(env.client, HERE / "histories")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # the SDK's runtime can abort at interpreter exit (sdk-python#300)
