"""A shard a reshard removed: its backups age out under retentionDays, the newest stays.

No shard backup runs for a removed shard, so each scheduled run of a schedule prunes the
shards of its destination that its topology no longer has. Real Temporal dev server (a
triggered Schedule run), SeaweedFS and mariadbd; the removed shard's old backups are
planted (they must be days old) and everything else is the real run.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fixtures.e2e_stack import Stack, cluster_file_without, write_schedule_with
from fixtures.e2e_stack import stack as stack
from fixtures.planted import plant
from shardkeeper import naming
from shardkeeper.contracts.backup import Outcome
from shardkeeper.control import progress, schedules
from shardkeeper.datapath.stores.catalog import list_backups
from shardkeeper.datapath.stores.retention import read_cleanup_record
from shardkeeper.spec.load import load
from shardkeeper.spec.validate import check_references

pytestmark = pytest.mark.e2e


async def test_a_removed_shards_backups_age_out_and_its_newest_is_kept(
    stack: Stack, tmp_path: Path
) -> None:
    name = f"reshard-{uuid.uuid4().hex[:6]}"
    cluster = stack.cluster.cluster
    now = datetime.now(UTC)
    ages = (30, 20, 10)  # days; keepLast 5 would keep all three of a live shard
    own = [plant(stack.location, stack.seaweed, cluster=cluster, keyspace="customer",
                 shard="80-", backup_id=naming.backup_id_for(now - timedelta(days=d)),
                 schedule=name, strategy="all-shards", finished_at=now - timedelta(days=d))
           for d in ages]
    old = naming.backup_id_for(now - timedelta(days=40))
    manual = plant(stack.location, stack.seaweed, cluster=cluster, keyspace="customer",
                   shard="80-", backup_id=old + "-m0123abcd", schedule="adhoc",
                   strategy="adhoc", finished_at=now - timedelta(days=40), trigger="manual")
    other = plant(stack.location, stack.seaweed, cluster=cluster, keyspace="customer",
                  shard="80-", backup_id=old, schedule="someone-else", strategy="all-shards",
                  finished_at=now - timedelta(days=40))

    resharded = cluster_file_without(stack, tmp_path / "resharded", "customer", "80-")
    schedule_file = write_schedule_with(tmp_path, stack, name,
                                        retention={"keepLast": 5, "retentionDays": 7})[1]
    specs = load([resharded, schedule_file])
    check_references(specs)
    await schedules.apply(stack.client, specs, stack.task_queue)
    try:
        await schedules.trigger(stack.client, cluster, name)
        run = await progress.latest_run(stack.client, cluster, name)
        result = await asyncio.wait_for(run.result(), timeout=240)
    finally:
        await schedules.delete(stack.client, cluster, name)

    assert all(s.outcome == Outcome.SUCCEEDED for s in result.shards), result.shards
    assert ("customer", "80-") not in {(s.keyspace, s.shard) for s in result.shards}
    assert [(p.keyspace, p.shard, p.strategy, p.deleted) for p in result.removed_shards_pruned] \
        == [("customer", "80-", "all-shards", (own[0].backup_id, own[1].backup_id))]
    left = {m.backup_id for m in list_backups(stack.location, cluster, "customer", "80-")}
    assert left == {own[2].backup_id, manual.backup_id, other.backup_id}, \
        "the newest own backup, the manual one and another schedule's stay"
    for gone in own[:2]:
        assert not stack.seaweed.client().list_objects_v2(
            Bucket=stack.bucket, Prefix=gone.object_key).get("KeyCount"), "its data went too"
    record = read_cleanup_record(stack.location, cluster, "customer", "80-", name, "all-shards")
    assert record is not None
    deleted = record["deleted"]
    assert isinstance(deleted, list)
    assert sorted(d["backup_id"] for d in deleted) == [own[0].backup_id, own[1].backup_id]
