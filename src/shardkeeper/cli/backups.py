"""``shardkeeper backups list|prune|verify``: backups, read from the object store.

``list`` and ``prune --dry-run`` read the store from here (keys and metadata.json only).
``verify`` re-reads the stored bytes in jobs the worker's executor runs (``VerifyBackups``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from shardkeeper.cli.options import (
    DEFAULT_TASK_QUEUE,
    Address,
    Files,
    Namespace,
    Output,
    OutputFormat,
    TaskQueue,
)
from shardkeeper.cli.runner import run

app = typer.Typer(help="Backups in the object store.", no_args_is_help=True)


@app.command("list")
def list_(
    filename: Files,
    cluster: Annotated[str | None, typer.Option(help="Only this cluster.")] = None,
    output: Output = OutputFormat.TABLE,
) -> None:
    """List committed backups (with metadata.json) of the destinations named in the files."""
    from shardkeeper.cli.output import emit
    from shardkeeper.control.backups import last_verdicts, list_backups, schedule_locations
    from shardkeeper.observability import configure_logging
    from shardkeeper.spec.load import load

    configure_logging("WARNING")  # an unreadable manifest's warning to stderr, not the table

    async def go() -> None:
        locations = schedule_locations(load(filename))
        manifests = await asyncio.to_thread(list_backups, locations, cluster)
        verdicts = await asyncio.to_thread(last_verdicts, locations, manifests)
        rows = [
            {
                "cluster": m.cluster, "keyspace": m.keyspace, "shard": m.shard,
                "backup_id": m.backup_id, "schedule": m.schedule, "strategy": m.strategy,
                "directory": m.directory(),
                "size_bytes": m.size_bytes, "sha256": m.sha256,
                "source": m.source_instance, "finished_at": m.finished_at.isoformat(),
                "gtid": m.binlog.gtid, "key": m.object_key,
                "verified": verdicts.get(m.object_key, "-"),
            }
            for m in manifests
        ]
        if output == OutputFormat.TABLE:
            for r in rows:
                r["sha256"] = str(r["sha256"])[:12]
        # directory: the backup's unique name (an id several schedules share is not)
        emit(rows, ["cluster", "keyspace", "shard", "backup_id", "schedule", "strategy",
                    "size_bytes", "sha256", "source", "finished_at", "gtid", "verified"]
             + ([] if output == "table" else ["directory", "key"]),
             output.value, "backups")

    run(go())


@app.command("prune")
def prune(
    filename: Files,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the plan without deleting (required: pruning itself runs "
        "after each backup).")] = False,
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="Only this cluster.")]
    = None,
    schedule: Annotated[str | None, typer.Option(help="Only this BackupSchedule.")] = None,
    output: Output = OutputFormat.TABLE,
) -> None:
    """What each schedule's retention would delete and keep now, and why."""
    from datetime import UTC, datetime

    from shardkeeper.cli.output import emit, fail
    from shardkeeper.control.backups import prune_plans
    from shardkeeper.errors import SpecInvalid
    from shardkeeper.spec.load import load

    if not dry_run:
        fail(SpecInvalid("backups prune: only --dry-run is supported; each backup run prunes "
                         "its own schedule's backups after it commits"))

    async def go() -> None:
        rows = await asyncio.to_thread(prune_plans, load(filename), datetime.now(UTC), cluster,
                                       schedule)
        emit(rows, ["cluster", "schedule", "strategy", "keyspace", "shard", "action",
                    "backup_id", "reason"], output.value, "prune plan")

    run(go())


@app.command("verify")
def verify(
    filename: Files,
    cluster: Annotated[str, typer.Option("--cluster", "-c", help="Cluster name.")],
    keyspace: Annotated[str | None, typer.Option(help="Only this keyspace.")] = None,
    shard: Annotated[str | None, typer.Option(help="Only this shard (with --keyspace).")]
    = None,
    backup: Annotated[str | None, typer.Option(help="Only this backup id or directory.")]
    = None,
    schedule: Annotated[str | None, typer.Option(help="Only this schedule's destination.")]
    = None,
    address: Address = None,
    namespace: Namespace = None,
    task_queue: TaskQueue = DEFAULT_TASK_QUEUE,
    output: Output = OutputFormat.TABLE,
) -> None:
    """Re-read stored backups through the executor; exit 1 when one fails a check.

    Checks: metadata.json exists and parses, the data object exists, its size and SHA-256
    match. Each verdict is recorded beside the backup and shown by `backups list`.
    """
    from rich.progress import Progress

    from shardkeeper.cli.output import emit, err
    from shardkeeper.contracts.verify import VerifyBackupsProgress
    from shardkeeper.control import connect
    from shardkeeper.control import verify as control
    from shardkeeper.errors import SpecInvalid
    from shardkeeper.observability import configure_logging
    from shardkeeper.spec.load import load

    configure_logging("WARNING")
    failed = False

    async def go() -> None:
        nonlocal failed
        if shard is not None and keyspace is None:
            raise SpecInvalid("--shard needs --keyspace (a shard name is unique per keyspace)")
        inputs = control.inputs(load(filename), control.Selection(
            cluster, keyspace, shard, backup, schedule))
        client = await connect.connect(address, namespace)
        rows = []
        for index, inp in enumerate(inputs):
            handle = await control.start(client, inp, task_queue, index)
            result_task = asyncio.create_task(handle.result())
            with Progress(console=err, transient=True) as bar:
                task = bar.add_task(f"verifying ({handle.id})", total=None)
                while not result_task.done():
                    await asyncio.wait([result_task], timeout=0.5)
                    try:
                        p = await handle.query("progress", result_type=VerifyBackupsProgress)
                    except Exception:  # noqa: S112 - no worker answered yet: keep waiting
                        continue
                    bar.update(task, total=p.targets or None, completed=p.done)
            for r in result_task.result().reports:
                bad = [c for c in r.checks if not c.ok]
                rows.append({"keyspace": r.keyspace, "shard": r.shard, "backup_id": r.backup_id,
                             "directory": r.directory, "result": r.result,
                             "failed_checks": ",".join(c.name for c in bad),
                             "detail": bad[0].detail if bad else ""})
        failed = any(r["result"] == "failed" for r in rows)
        emit(rows, ["keyspace", "shard", "backup_id", "result", "failed_checks", "detail"]
             + ([] if output == "table" else ["directory"]), output.value, "verification")

    run(go())
    if failed:
        raise typer.Exit(1)
