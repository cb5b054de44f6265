"""``shardkeeper up``: the embedded stack on one host, in the foreground.

Starts a Temporal dev server (with the Web UI), SeaweedFS, a seeded demo MariaDB cluster
(3 shards, each a primary and a GTID replica) and a worker; applies the demo schedule, whose
first backup (``firstBackup: immediate``) starts at once, shows each shard's progress,
prints the backups and where to look, then
waits for Ctrl-C and stops everything it started (and nothing else).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.live import Live
from rich.table import Table

from shardkeeper.cli.output import emit, err, fail
from shardkeeper.control.progress import ShardRow
from shardkeeper.control.stack.temporal_server import DevServerProfile
from shardkeeper.errors import ShardkeeperError

PROFILE = Path("temporal-dev.yaml")


def _table(rows: list[ShardRow], title: str) -> Table:
    table = Table(title=title)
    for col in ("keyspace", "shard", "strategy", "offset", "phase"):
        table.add_column(col.upper())
    for r in rows:
        table.add_row(r.keyspace, r.shard, r.strategy, f"+{r.offset_seconds}s", r.phase)
    return table


async def _up(state_dir: Path, once: bool, rows: int, profile: DevServerProfile) -> int:
    """Start the stack, apply the demo, back it up once, print what a new user needs.

    One function on purpose: it reads top to bottom as the story ``up`` prints, and every
    step uses the processes the previous one started (split, they would travel as a bag).
    """
    from shardkeeper.contracts import names
    from shardkeeper.contracts.backup import BackupRunResult
    from shardkeeper.control import demo, progress, schedules
    from shardkeeper.control.backups import list_backups, schedule_locations
    from shardkeeper.control.connect import connect
    from shardkeeper.control.stack.mariadb import MariaDBCluster
    from shardkeeper.control.stack.seaweedfs import SeaweedFS
    from shardkeeper.control.stack.temporal_server import TemporalDevServer
    from shardkeeper.spec.load import load
    from shardkeeper.spec.validate import check_references
    from shardkeeper.worker.main import running_worker
    from shardkeeper.worker.settings import WorkerSettings

    os.environ[demo.S3_ACCESS_KEY_ENV] = "demo" + secrets.token_hex(6)
    os.environ[demo.S3_SECRET_KEY_ENV] = secrets.token_urlsafe(24)
    os.environ[demo.DB_PASSWORD_ENV] = secrets.token_urlsafe(18)

    t0 = time.monotonic()
    seaweed = SeaweedFS(state_dir / "seaweedfs", access_key=os.environ[demo.S3_ACCESS_KEY_ENV],
                        secret_key=os.environ[demo.S3_SECRET_KEY_ENV])
    cluster = MariaDBCluster(state_dir / "mariadb", password=os.environ[demo.DB_PASSWORD_ENV],
                             rows_per_table=rows)
    temporal = TemporalDevServer(state_dir / "temporal", profile, use_free_ports=False)
    try:
        with err.status("starting Temporal dev server, SeaweedFS and the demo MariaDB cluster"):
            await asyncio.gather(
                temporal.start(),
                asyncio.to_thread(seaweed.start),
                asyncio.to_thread(cluster.start),
            )
        err.print(f"stack up in {time.monotonic() - t0:.1f}s")
        seaweed.create_bucket(demo.DEMO_BUCKET)
        cluster_file = cluster.write_cluster_yaml(state_dir / "cluster.yaml", demo.DB_PASSWORD_ENV)
        schedule_file = state_dir / "schedule.yaml"
        schedule_file.write_text(yaml.safe_dump(demo.schedule_document(
            cluster=cluster.cluster, endpoint=seaweed.endpoint,
            jobs_dir=str(state_dir / "jobs"),
        ), sort_keys=False))
        specs = load([cluster_file, schedule_file])
        check_references(specs)
        await schedules.claim_repositories(specs)  # as `apply` does after its preflight
        client = await connect(temporal.address, temporal.namespace)
        t1 = time.monotonic()
        # firstBackup: immediate (the default): apply itself starts the first backup of
        # every shard, as it would for a new user's schedule; up only follows that run.
        (applied,) = await schedules.apply(client, specs, names.DEFAULT_TASK_QUEUE)
        if applied.first_backup is None:  # pragma: no cover - the demo schedule asks for it
            raise ShardkeeperError("the demo schedule started no first backup")
        settings = WorkerSettings(jobs_dir=state_dir / "jobs")
        async with running_worker(client, settings):
            run = client.get_workflow_handle(applied.first_backup, result_type=BackupRunResult)
            result_task = asyncio.create_task(run.result())
            with Live(_table([], "backup run"), console=err, refresh_per_second=4) as live:
                while not result_task.done():
                    live.update(_table(await progress.snapshot(client, run), f"run {run.id}"))
                    await asyncio.wait([result_task], timeout=1)
                live.update(_table(await progress.snapshot(client, run), f"run {run.id}"))
            result = result_task.result()
            err.print(f"backup run finished in {time.monotonic() - t1:.1f}s")
            manifests = await asyncio.to_thread(list_backups, schedule_locations(specs),
                                                cluster.cluster)
            emit([{"keyspace": m.keyspace, "shard": m.shard, "backup_id": m.backup_id,
                   "size_bytes": m.size_bytes, "sha256": m.sha256[:12],
                   "source": m.source_instance, "gtid": m.binlog.gtid} for m in manifests],
                 ["keyspace", "shard", "backup_id", "size_bytes", "sha256", "source", "gtid"],
                 "table", "backups in s3://" + demo.DEMO_BUCKET)
            failed = [s for s in result.shards if s.outcome.value != "succeeded"]
            for s in failed:
                err.print(f"[red]{s.keyspace}/{s.shard}: {s.outcome.value}: {s.reason}[/]")
            query = f"ShardkeeperSchedule%3D%22{demo.DEMO_SCHEDULE}%22"
            err.print(f"Web UI:   {temporal.ui_url}/namespaces/{temporal.namespace}"
                      f"/workflows?query={query}", soft_wrap=True)
            err.print(f"Temporal: {temporal.address}   S3: {seaweed.endpoint}   "
                      f"files: {cluster_file} {schedule_file}")
            env_file = demo.write_env_file(state_dir / "env.sh", {
                **{name: os.environ[name] for name in (
                    demo.S3_ACCESS_KEY_ENV, demo.S3_SECRET_KEY_ENV, demo.DB_PASSWORD_ENV)},
                "TEMPORAL_ADDRESS": temporal.address, "TEMPORAL_NAMESPACE": temporal.namespace,
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            })
            # soft_wrap: lines meant to be copied are never broken at the terminal's width
            err.print(f"second terminal: source {env_file}  (credentials, address; mode 0600)",
                      soft_wrap=True)
            err.print(f"  shardkeeper describe schedule {demo.DEMO_SCHEDULE} -c {cluster.cluster}",
                      soft_wrap=True)
            err.print(f"  shardkeeper backups list -f {schedule_file} -f {cluster_file}",
                      soft_wrap=True)
            if not once:
                err.print("running; Ctrl-C stops everything started here")
                await asyncio.Event().wait()
            return 1 if failed or not result.shards else 0
    finally:
        temporal.stop()
        seaweed.stop()
        cluster.stop()


def _fresh_state(state_dir: Path) -> None:
    """A fresh demo every time: old datadirs, buckets and histories would only confuse."""
    if state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True)


def up(
    state_dir: Annotated[Path, typer.Option(help="Where the demo keeps its state.")] = Path(
        ".shardkeeper"
    ),
    once: Annotated[
        bool, typer.Option("--once", help="Stop after the first backup run (for CI).")
    ] = False,
    rows: Annotated[int, typer.Option(help="Rows seeded per demo table.")] = 2000,
) -> None:
    """Bring up the embedded stack, back up the demo cluster once, keep running until Ctrl-C."""
    from shardkeeper.observability import configure_logging

    configure_logging("WARNING")
    from shardkeeper.control.stack.temporal_server import DevServerProfile, load_profile

    _fresh_state(state_dir.resolve())
    profile = load_profile(PROFILE) if PROFILE.exists() else DevServerProfile()
    try:
        code = asyncio.run(_up(state_dir.resolve(), once, rows, profile))
    except ShardkeeperError as error:
        fail(error)
    except KeyboardInterrupt:
        err.print("stopped")
        code = 0
    raise typer.Exit(code)
