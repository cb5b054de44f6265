"""The short crash loop: "listed means restorable" with the worker and agents SIGKILLed.

Real Temporal dev server, SeaweedFS, MariaDB shards and mariadb-backup; the worker is its
own ``shardkeeper worker`` process, killed with SIGKILL at seeded random points and started
again. The invariants are read from the bucket and the executor's job directories
(tests/fixtures/crash_loop.py). The long loop with figures is bench/reliability.py; this one
stays within about three minutes. ``SHARDKEEPER_CRASH_SEED`` replays a printed seed.
"""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path

import pytest

from fixtures.crash_loop import ArgvSampler, Loop, WorkerProcess, count_secrets
from fixtures.e2e_stack import Stack, write_schedule_with
from fixtures.e2e_stack import stack as stack
from fixtures.servers import PASSWORD_ENV
from shardkeeper.control import schedules
from shardkeeper.spec.load import load
from shardkeeper.spec.validate import check_references

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


async def _loop(stack: Stack, tmp_path: Path, **options: float) -> Loop:
    """A schedule of its own, on a task queue only the killable worker polls."""
    name = f"crash-{uuid.uuid4().hex[:6]}"
    jobs = tmp_path / "jobs"
    files = write_schedule_with(
        tmp_path, stack, name, executor={"kind": "local", "jobsDir": str(jobs)},
        successfulJobsHistoryLimit=100, failedJobsHistoryLimit=100)  # keep every attempt
    specs = load(files)
    check_references(specs)
    queue = f"crash-{uuid.uuid4()}"
    await schedules.apply(stack.client, specs, queue)
    seed = int(os.environ.get("SHARDKEEPER_CRASH_SEED") or random.SystemRandom().randrange(1 << 30))
    worker = WorkerProcess(stack.temporal, queue, jobs, tmp_path / "worker.log")
    return Loop(stack.client, worker, stack.cluster.cluster, name, stack.seaweed.client(),
                stack.bucket, "backups/", seed, **options)  # type: ignore[arg-type]


async def test_worker_kill_9_at_random_points_loses_and_duplicates_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    loop = await _loop(stack, tmp_path, kills_per_run=2, max_delay=4.0)
    try:
        with ArgvSampler() as argv:
            figures = await loop.run(runs=4, min_kills=8)
        committed = loop.check()
    finally:
        await schedules.delete(stack.client, stack.cluster.cluster, loop.schedule)
    print(figures.as_row())
    secrets = [stack.seaweed.secret_key, os.environ[PASSWORD_ENV]]
    found = await count_secrets(
        stack.client, f'ShardkeeperSchedule = "{loop.schedule}"', secrets,
        [tmp_path / "jobs", tmp_path / "worker.log"], stack.seaweed.client(), stack.bucket, argv)
    assert found.pop("scanned_histories") >= 4 * 4 and argv.samples > 10, found
    assert sum(found.values()) == 0, f"secret values found: {found}"
    control = await count_secrets(  # the scan finds a secret where one is (SeaweedFS's own)
        stack.client, "WorkflowId = 'none'", secrets,
        [stack.seaweed.data_dir / "config" / "s3-identities.json"], stack.seaweed.client(),
        stack.bucket)
    assert control["files"] == 1, control
    assert figures.kills >= 8, figures.as_row()
    assert figures.problems == [], figures.problems
    assert figures.completed == figures.runs >= 4
    assert figures.lost == figures.corrupt_listed == figures.orphan_uploads == 0
    assert figures.duplicate_jobs == figures.uncommitted_prefixes == 0
    assert figures.succeeded + figures.failed_cleanly + figures.skipped == 3 * figures.runs
    assert committed >= figures.succeeded > 0
    assert len(figures.recover_seconds) >= 1


async def test_agents_killed_mid_stream_end_in_a_clean_retry_or_a_clean_failure(
    stack: Stack, tmp_path: Path
) -> None:
    loop = await _loop(stack, tmp_path, kills_per_run=1, agent_kill_rate=1.0, max_delay=5.0)
    try:
        figures = await loop.run(runs=2)
        loop.check()
    finally:
        await schedules.delete(stack.client, stack.cluster.cluster, loop.schedule)
    print(figures.as_row())
    assert figures.agent_kills >= 1, figures.as_row()
    # a killed mariadb-backup --safe-slave-backup left its replica's SQL thread stopped; the
    # next attempt started it again: every replica replicates after the loop
    for keyspace, shard in stack.cluster.shards():
        for replica in stack.cluster.replicas(keyspace, shard):
            status = stack.cluster.slave_status(replica)
            assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("Yes", "Yes"), \
                (replica.name, status.get("Slave_SQL_Running"), status.get("Last_SQL_Error"))
    assert figures.problems == [], figures.problems
    assert figures.lost == figures.corrupt_listed == figures.orphan_uploads == 0
    assert figures.duplicate_jobs == figures.uncommitted_prefixes == 0
