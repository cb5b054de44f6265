"""The long crash loop: N backup runs with the worker SIGKILLed, agents killed, S3 faults.

    .venv/bin/python bench/reliability.py --runs 50 --fault-rate 0.05 --seed 7

A real Temporal dev server, SeaweedFS (behind a fault proxy answering a share of the S3
requests with 503 SlowDown-style errors when ``--fault-rate`` > 0), the 3-shard demo cluster
with GTID replicas and a ``shardkeeper worker`` process. Each run is triggered, the worker
is SIGKILLed ``--kills-per-run`` times at seeded random points (an agent instead with
probability ``--agent-kill-rate``) and started again. After the runs the bucket and the job
directories are checked (tests/fixtures/crash_loop.py, the same checks as the suite's
short loop), and every history, job file, metadata.json and sampled command line is scanned
for the generated secrets. Prints one table and writes bench/results/reliability.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml
from common import REPO, write_results

sys.path.insert(0, str(REPO / "tests"))

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from datapath.faulty_proxy import FaultyProxy
from fixtures.crash_loop import ArgvSampler, Loop, WorkerProcess, count_secrets
from shardkeeper.control import demo, schedules
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.control.stack.temporal_server import (
    TemporalDevServer,
    load_profile,
)
from shardkeeper.spec.load import load
from shardkeeper.spec.validate import check_references

KEY_ENV, SECRET_ENV, PASSWORD_ENV = "SK_BENCH_S3_KEY", "SK_BENCH_S3_SECRET", "SK_BENCH_DB_PW"


def _documents(base: Path, cluster: MariaDBCluster, endpoint: str, bucket: str,
               jobs: Path) -> list[Path]:
    doc = demo.schedule_document(
        cluster=cluster.cluster, endpoint=endpoint, bucket=bucket, name="reliability",
        stagger_window="2s", access_key_env=KEY_ENV, secret_key_env=SECRET_ENV,
        jobs_dir=str(jobs), first_backup="next-slot")
    doc["spec"].update(successfulJobsHistoryLimit=1000, failedJobsHistoryLimit=1000,
                       retention={"keepLast": 1000, "retentionDays": 365})
    schedule = base / "schedule.yaml"
    schedule.write_text(yaml.safe_dump(doc, sort_keys=False))
    return [cluster.write_cluster_yaml(base / "cluster.yaml", PASSWORD_ENV), schedule]


async def main(args: argparse.Namespace) -> int:
    """Start the stack, run the loop, check, scan, print and record the figures."""
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    base = Path(tempfile.mkdtemp(prefix="sk-reliability-", dir=args.workdir))
    os.environ[KEY_ENV] = "sk" + secrets.token_hex(8)
    os.environ[SECRET_ENV] = "secret-" + secrets.token_urlsafe(24)
    os.environ[PASSWORD_ENV] = "pw-" + secrets.token_urlsafe(18)
    temporal = TemporalDevServer(base / "temporal", load_profile(REPO / "temporal-dev.yaml"),
                                 use_free_ports=True)
    seaweed = SeaweedFS(base / "seaweed", access_key=os.environ[KEY_ENV],
                        secret_key=os.environ[SECRET_ENV])
    cluster = MariaDBCluster(base / "mariadb", password=os.environ[PASSWORD_ENV],
                             rows_per_table=args.rows)
    rng = random.Random(seed ^ 0x5EED)
    proxy: FaultyProxy | None = None
    started = time.monotonic()
    try:
        await asyncio.gather(temporal.start(), asyncio.to_thread(seaweed.start),
                             asyncio.to_thread(cluster.start))
        seaweed.create_bucket("reliability")
        proxy = FaultyProxy(seaweed.endpoint,
                            lambda *_: args.fault_rate > 0 and rng.random() < args.fault_rate)
        proxy.start()  # with --fault-rate 0 it only relays
        client = await Client.connect(temporal.address, namespace=temporal.namespace,
                                      data_converter=pydantic_data_converter)
        jobs = base / "jobs"
        specs = load(_documents(base, cluster, proxy.endpoint, "reliability", jobs))
        check_references(specs)
        queue = f"reliability-{uuid.uuid4()}"
        await schedules.apply(client, specs, queue)
        worker = WorkerProcess(temporal, queue, jobs, base / "worker.log")
        loop = Loop(client, worker, cluster.cluster, "reliability", seaweed.client(),
                    "reliability", "backups/", seed, kills_per_run=args.kills_per_run,
                    agent_kill_rate=args.agent_kill_rate, max_delay=args.max_delay)
        with ArgvSampler() as argv:
            figures = await loop.run(args.runs, min_kills=args.runs * args.kills_per_run)
        committed = loop.check()
        found = await count_secrets(
            client, 'ShardkeeperSchedule = "reliability"',
            [os.environ[SECRET_ENV], os.environ[PASSWORD_ENV]], [jobs, base / "worker.log"],
            seaweed.client(), "reliability", argv)
    finally:
        if proxy is not None:
            proxy.stop()
        temporal.stop()
        seaweed.stop()
        cluster.stop()
    scanned = found.pop("scanned_histories", 0)
    row = {**figures.as_row(), "committed": committed, "secrets_found": sum(found.values()),
           "histories_scanned": scanned, "argv_samples": argv.samples,
           "s3_requests_failed": proxy.failed if proxy is not None else 0,
           "fault_rate": args.fault_rate, "seed": seed,
           "wall_seconds": round(time.monotonic() - started)}
    width = max(map(len, row))
    for name, value in row.items():
        print(f"{name:<{width}}  {value}")
    for problem in figures.problems[:50]:
        print(f"problem: {problem}")
    write_results("reliability", {"figures": row, "problems": figures.problems})
    zeros = ("lost", "corrupt_listed", "orphan_uploads", "duplicate_jobs",
             "uncommitted_prefixes", "secrets_found")
    if any(row[z] for z in zeros) or figures.problems:
        print(f"kept for inspection: {base}")
        return 1
    shutil.rmtree(base, ignore_errors=True)
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--kills-per-run", type=int, default=1)
    parser.add_argument("--agent-kill-rate", type=float, default=0.2,
                        help="share of kills aimed at an agent instead of the worker")
    parser.add_argument("--fault-rate", type=float, default=0.0,
                        help="share of S3 requests answered 503 by the fault proxy")
    parser.add_argument("--max-delay", type=float, default=6.0,
                        help="kills land up to this many seconds after the previous event")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--rows", type=int, default=2000, help="rows per demo table")
    parser.add_argument("--workdir", type=Path, default=None)
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_arguments())))
