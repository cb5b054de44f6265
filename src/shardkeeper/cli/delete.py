"""``shardkeeper delete schedule|backup``: remove a schedule, or committed backups on purpose.

``delete schedule NAME -c CLUSTER`` or ``delete schedule -f FILE`` (every BackupSchedule in
the files). Equivalent to ``temporal schedule delete --schedule-id shardkeeper/C/NAME``.
``delete backup ID -f FILE`` deletes the backups with that id (the whole set of a run, or
one shard's with ``--keyspace``/``--shard``) from the files' destinations.
A name that is not applied is an error with exit code 2 (the input names something that does
not exist, like every other unknown name shardkeeper is given; kubectl uses 1 here).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from shardkeeper.cli.options import Address, Files, Namespace, Output, OutputFormat
from shardkeeper.cli.runner import run

app = typer.Typer(help="Remove resources (kubectl-style).", no_args_is_help=True)


def _targets(name: str | None, cluster: str | None, files: list[Path]) -> list[tuple[str, str]]:
    """(cluster, schedule) pairs named on the command line or by the files' documents."""
    from shardkeeper.errors import SpecInvalid
    from shardkeeper.spec.load import load
    from shardkeeper.spec.schedule import BackupSchedule

    if files:
        if name is not None or cluster is not None:
            raise SpecInvalid("give NAME with --cluster, or --filename, not both")
        found = [(s.resource.spec.cluster, s.resource.metadata.name)
                 for s in load(files).schedules if isinstance(s.resource, BackupSchedule)]
        if not found:
            raise SpecInvalid("no BackupSchedule documents in the given files; nothing to delete")
        return found
    if name is None or cluster is None:
        raise SpecInvalid("give a schedule NAME and --cluster, or --filename FILE")
    return [(cluster, name)]


@app.command("schedule")
def delete_schedule(
    name: Annotated[str | None, typer.Argument(help="BackupSchedule name (metadata.name).")]
    = None,
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="Cluster name.")]
    = None,
    filename: Annotated[
        list[Path] | None,
        typer.Option("--filename", "-f", help="Delete every BackupSchedule in these files."),
    ] = None,
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """Delete the Temporal Schedule; backups stay, a run already started finishes.

    `temporal schedule delete --schedule-id shardkeeper/CLUSTER/NAME`. Other schedules'
    Cluster strategies take back a keyspace this one owned from their next run on.
    """
    from shardkeeper.control import connect, schedules
    from shardkeeper.errors import SpecInvalid

    async def go() -> None:
        targets = _targets(name, cluster, list(filename or []))
        client = await connect.connect(address, namespace)
        missing: list[str] = []
        for c, n in targets:
            try:
                sid = await schedules.delete(client, c, n)
            except SpecInvalid as err:
                missing.append(str(err))
                continue
            typer.echo(f"backupschedule/{n} deleted (temporal schedule {sid}); backups kept")
        if missing:
            raise SpecInvalid("; ".join(missing))

    run(go())


@app.command("backup")
def delete_backup(
    backup: Annotated[str, typer.Argument(
        help="Backup id (a whole run's set) or a backup directory (`backups list -o json`).")],
    filename: Files,
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="Only this cluster.")]
    = None,
    keyspace: Annotated[str | None, typer.Option(help="Only this keyspace.")] = None,
    shard: Annotated[str | None, typer.Option(help="Only this shard (with --keyspace).")]
    = None,
    schedule: Annotated[str | None, typer.Option(help="Only this schedule's backups.")] = None,
    strategy: Annotated[str | None, typer.Option(help="Only this strategy's backups.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Also delete a shard's newest verified backup.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would go.")] = False,
    output: Output = OutputFormat.TABLE,
) -> None:
    """Delete committed backups on purpose: metadata.json first, then their objects.

    Refuses, deleting nothing, when one of them is its shard's newest verified backup
    (the latest restore point) unless --force.
    """
    from shardkeeper.cli.output import emit
    from shardkeeper.control.backups import (
        Selector,
        delete_backups,
        schedule_locations,
        select_for_delete,
    )
    from shardkeeper.errors import SpecInvalid
    from shardkeeper.observability import configure_logging
    from shardkeeper.spec.load import load

    configure_logging("WARNING")  # to stderr: stdout carries the table or JSON

    async def go() -> None:
        if shard is not None and keyspace is None:
            raise SpecInvalid("--shard needs --keyspace (a shard name is unique per keyspace)")
        locations = schedule_locations(load(filename))
        selector = Selector(backup, cluster, keyspace, shard, schedule, strategy)
        doomed = await asyncio.to_thread(select_for_delete, locations, selector)
        done = [(d, None) for d in doomed] if dry_run else await asyncio.to_thread(
            delete_backups, doomed, force=force)
        rows = [{"cluster": d.manifest.cluster, "keyspace": d.manifest.keyspace,
                 "shard": d.manifest.shard, "backup_id": d.manifest.backup_id,
                 "schedule": d.manifest.schedule, "strategy": d.manifest.strategy,
                 "directory": d.manifest.directory(), "newest": d.newest,
                 "action": "would delete" if objects is None else f"deleted ({objects} objects)"}
                for d, objects in done]
        emit(rows, ["cluster", "keyspace", "shard", "backup_id", "schedule", "strategy",
                    "newest", "action"] + ([] if output == "table" else ["directory"]),
             output.value, "backups deleted" if not dry_run else "backups to delete")

    run(go())
