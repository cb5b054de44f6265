"""``shardkeeper delete schedule``: remove applied Temporal Schedules, keep their backups.

``delete schedule NAME -c CLUSTER`` or ``delete schedule -f FILE`` (every BackupSchedule in
the files). Equivalent to ``temporal schedule delete --schedule-id shardkeeper/C/NAME``.
A name that is not applied is an error with exit code 2 (the input names something that does
not exist, like every other unknown name shardkeeper is given; kubectl uses 1 here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shardkeeper.cli.options import Address, Namespace
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
