"""``shardkeeper backups list|prune``: committed backups, read from the object store alone."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from shardkeeper.cli.options import Files, Output, OutputFormat
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
    from shardkeeper.control.backups import list_backups, schedule_locations
    from shardkeeper.observability import configure_logging
    from shardkeeper.spec.load import load

    configure_logging("WARNING")  # an unreadable manifest's warning to stderr, not the table

    async def go() -> None:
        locations = schedule_locations(load(filename))
        manifests = await asyncio.to_thread(list_backups, locations, cluster)
        rows = [
            {
                "cluster": m.cluster, "keyspace": m.keyspace, "shard": m.shard,
                "backup_id": m.backup_id, "schedule": m.schedule, "strategy": m.strategy,
                "directory": m.directory(),
                "size_bytes": m.size_bytes, "sha256": m.sha256,
                "source": m.source_instance, "finished_at": m.finished_at.isoformat(),
                "gtid": m.binlog.gtid, "key": m.object_key,
            }
            for m in manifests
        ]
        if output == OutputFormat.TABLE:
            for r in rows:
                r["sha256"] = str(r["sha256"])[:12]
        # directory: the backup's unique name (an id several schedules share is not)
        emit(rows, ["cluster", "keyspace", "shard", "backup_id", "schedule", "strategy",
                    "size_bytes", "sha256", "source", "finished_at", "gtid"]
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
