"""`shardkeeper backups verify`: every kind of damage found by jobs the executor runs.

Real Temporal dev server, SeaweedFS, mariadbd and mariadb-backup: six real backups (two runs
of three shards), five of them damaged in the bucket the way storage and people damage
things (a flipped byte, a truncation, an edited checksum, a deleted object, a deleted
metadata.json). The verdicts are read back from the CLI, from `backups list` and from the
side records in the bucket; the bytes were re-read by `agent verify` jobs, whose job
directories the local executor left behind.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from fixtures.e2e_stack import Stack, write_schedule_with
from fixtures.e2e_stack import stack as stack
from shardkeeper import naming
from shardkeeper.cli.app import app
from shardkeeper.contracts.backup import BackupRunResult, Outcome
from shardkeeper.control import progress, schedules
from shardkeeper.spec.load import load
from shardkeeper.spec.validate import check_references

pytestmark = pytest.mark.e2e


async def _cli(stack: Stack, *args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, [*args], env={
        "TEMPORAL_ADDRESS": stack.temporal.address,
        "TEMPORAL_NAMESPACE": stack.temporal.namespace})


async def _run(stack: Stack, name: str) -> BackupRunResult:
    handle = stack.client.get_schedule_handle(naming.schedule_id(stack.cluster.cluster, name))
    before = (await handle.describe()).info.num_actions
    await handle.trigger()
    run = await progress.latest_run(stack.client, stack.cluster.cluster, name, after=before)
    result = await asyncio.wait_for(run.result(), timeout=240)
    assert all(s.outcome == Outcome.SUCCEEDED for s in result.shards), result.shards
    return result


async def test_verify_finds_each_kind_of_damage_and_records_it(
    stack: Stack, tmp_path: Path
) -> None:
    name = f"verify-{uuid.uuid4().hex[:6]}"
    files = write_schedule_with(tmp_path, stack, name)
    specs = load(files)
    check_references(specs)
    await schedules.apply(stack.client, specs, stack.task_queue)
    try:
        first = await _run(stack, name)
        await asyncio.sleep(1.1)  # the second run's slot is a later second: another id
        second = await _run(stack, name)
    finally:
        await schedules.delete(stack.client, stack.cluster.cluster, name)
    shard = {(r.keyspace, r.shard, n): r for n, run in ((1, first), (2, second))
             for r in run.shards}
    s3, bucket = stack.seaweed.client(), stack.bucket

    def data_key(ks: str, sh: str, n: int) -> str:
        return json.loads(s3.get_object(Bucket=bucket, Key=str(shard[(ks, sh, n)].manifest_key))
                          ["Body"].read())["object_key"]

    flipped, truncated = data_key("commerce", "-", 1), data_key("customer", "-80", 1)
    body = bytearray(s3.get_object(Bucket=bucket, Key=flipped)["Body"].read())
    body[len(body) // 2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=flipped, Body=bytes(body))
    whole = s3.get_object(Bucket=bucket, Key=truncated)["Body"].read()
    s3.put_object(Bucket=bucket, Key=truncated, Body=whole[: len(whole) // 2])
    edited_key = str(shard[("customer", "80-", 1)].manifest_key)
    edited = json.loads(s3.get_object(Bucket=bucket, Key=edited_key)["Body"].read())
    edited["sha256"] = "0" * 64
    s3.put_object(Bucket=bucket, Key=edited_key, Body=json.dumps(edited).encode())
    lost_object = data_key("commerce", "-", 2)
    s3.delete_object(Bucket=bucket, Key=lost_object)
    s3.delete_object(Bucket=bucket, Key=str(shard[("customer", "-80", 2)].manifest_key))

    result = await _cli(stack, "backups", "verify", "-f", str(files[0]), "-f", str(files[1]),
                        "-c", stack.cluster.cluster, "--schedule", name,
                        "--task-queue", stack.task_queue, "-o", "json")
    assert result.exit_code == 1, result.output  # damage found: a failing verdict, not bad input
    rows = {(r["keyspace"], r["shard"], r["backup_id"]): r for r in json.loads(result.output)
            if name in r["directory"] or naming.schedule_tag(name, "all-shards") in r["directory"]}

    def verdict(ks: str, sh: str, n: int) -> dict[str, str]:
        return rows[(ks, sh, shard[(ks, sh, n)].backup_id)]

    assert verdict("customer", "80-", 2)["result"] == "passed"
    expected = {("commerce", "-", 1): ("sha256", flipped),
                ("customer", "-80", 1): ("size,sha256", truncated),
                ("customer", "80-", 1): ("sha256", "0" * 64),
                ("commerce", "-", 2): ("object", lost_object),
                ("customer", "-80", 2): ("metadata", "the backup is not committed")}
    for (ks, sh, n), (checks, named) in expected.items():
        row = verdict(ks, sh, n)
        assert (row["result"], row["failed_checks"]) == ("failed", checks), row
        assert named in row["detail"], row

    listed = await _cli(stack, "backups", "list", "-f", str(files[0]), "-f", str(files[1]),
                        "-o", "json")
    assert listed.exit_code == 0, listed.output
    by_key = {r["key"]: r["verified"] for r in json.loads(listed.output)}
    assert by_key[flipped].startswith("FAILED sha256 ")
    assert by_key[data_key("customer", "80-", 2)].startswith("passed ")
    assert truncated in by_key and by_key[truncated].startswith("FAILED size,sha256")

    records = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="backups/")
               .get("Contents", []) if f"/{naming.VERIFY_DIR}/" in o["Key"]]
    assert len([k for k in records if naming.schedule_tag(name, "all-shards") in k]) == 6
    jobs = [p for p in stack.jobs_dir.iterdir() if p.name.startswith("skv-")]
    assert len(jobs) >= 6 and all((p / "report.json").exists() for p in jobs), \
        "every backup was re-read by an agent job through the executor"

    # retention never takes a failed backup for the shard's newest verified one
    plan = await _cli(stack, "backups", "prune", "--dry-run", "-f", str(files[0]), "-f",
                      str(files[1]), "--schedule", name, "-o", "json")
    assert plan.exit_code == 0, plan.output
    reasons = {(r["keyspace"], r["shard"], r["backup_id"]): r["reason"]
               for r in json.loads(plan.output)}
    truncated_id = shard[("customer", "-80", 1)].backup_id
    assert reasons[("customer", "-80", truncated_id)].startswith("failed verification"), reasons
    assert "never deleted" in reasons[("customer", "80-", shard[("customer", "80-", 2)].backup_id)]
