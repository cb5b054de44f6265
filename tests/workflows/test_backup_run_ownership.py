"""BackupRun asks keyspace_owners when ownership is decided at run time (fake activity).

The real activity against real Schedules is tested in tests/e2e/test_ownership.py.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from fixtures.fake_activities import Scenario
from shardkeeper.contracts import names
from shardkeeper.contracts.ownership import (
    KeyspaceOwner,
    KeyspaceOwnersInput,
    KeyspaceOwnersResult,
)
from workflows.test_backup_run_workflow import env as env
from workflows.test_backup_run_workflow import run_input, run_scenario


def _owned_by(*owners: KeyspaceOwner) -> object:
    @activity.defn(name=names.KEYSPACE_OWNERS)
    async def keyspace_owners(inp: KeyspaceOwnersInput) -> KeyspaceOwnersResult:
        assert inp.cluster == "demo"
        return KeyspaceOwnersResult(owners=owners)

    return keyspace_owners


async def test_owners_now_replace_the_exclusions_written_at_apply(
    env: WorkflowEnvironment,
) -> None:
    sc = Scenario()
    fake = _owned_by(KeyspaceOwner(keyspace="customer", schedule="hourly", strategy="cust"),
                     KeyspaceOwner(keyspace="commerce", schedule="nightly", strategy="own"))
    inp = run_input(keyspace_owners_at_run_time=True, excluded_keyspaces=("commerce",))
    queue_activities = sc.activities
    sc.activities = lambda: [*queue_activities(), fake]  # type: ignore[method-assign]
    result, _ = await run_scenario(env.client, sc, inp)
    # commerce: stale exclusion from apply, and its only owner is this run's own schedule
    assert {(s.keyspace, s.shard) for s in result.shards} == {("commerce", "-")}
    reasons = {(s.keyspace, s.shard): s.reason for s in result.skipped}
    assert reasons == {
        ("customer", "-80"): "keyspace owned by strategy 'cust' of schedule 'hourly'",
        ("customer", "80-"): "keyspace owned by strategy 'cust' of schedule 'hourly'",
    }


async def test_a_run_started_by_hand_does_not_ask(env: WorkflowEnvironment) -> None:
    sc = Scenario()  # no keyspace_owners activity registered: asking would time out
    result, _ = await run_scenario(env.client, sc, run_input(excluded_keyspaces=("customer",)))
    assert {(s.keyspace, s.shard) for s in result.shards} == {("commerce", "-")}
