r"""``shardkeeper restore``: start (from a file or flags), approve, cancel.

Also the ``describe restore`` view (exported for ``cli/app.py``)::

    shardkeeper restore -f restore.yaml -f cluster.yaml [-f schedule.yaml]
    shardkeeper restore start --cluster demo --shard customer/-80 --backup latest \
        -f cluster.yaml -f schedule.yaml [--into new-cluster.yaml] [--require-approval]
    shardkeeper restore approve NAME
    shardkeeper restore cancel NAME
    shardkeeper describe restore NAME [--watch]
"""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from shardkeeper.cli.options import (
    DEFAULT_TASK_QUEUE,
    Address,
    Namespace,
    RestoreCluster,
    RestoreFiles,
    RestoreName,
    TaskQueue,
)
from shardkeeper.cli.runner import run
from shardkeeper.contracts.restore import RestorePhase, RestoreProgress

app = typer.Typer(
    help="Restore a shard, a keyspace or a cluster from backups (a compensating workflow).",
    invoke_without_command=True,
)

TERMINAL = (RestorePhase.COMPLETED, RestorePhase.FAILED, RestorePhase.COMPENSATED)


@app.callback()
def from_files(
    ctx: typer.Context,
    filename: RestoreFiles = None,
    address: Address = None,
    namespace: Namespace = None,
    task_queue: TaskQueue = DEFAULT_TASK_QUEUE,
) -> None:
    """Start every ``kind: Restore`` in the files (with no subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    if not filename:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from shardkeeper.control import connect, restores
    from shardkeeper.errors import SpecInvalid

    async def go() -> None:
        docs = restores.load_documents(filename)
        if not docs.restores:
            raise SpecInvalid("no kind: Restore document in the given files")
        inputs = [restores.input_of(r, docs) for r in docs.restores]
        client = await connect.connect(address, namespace)
        for inp in inputs:
            handle = await restores.start(client, inp, task_queue)
            typer.echo(f"restore/{inp.name} started (workflow {handle.id})"
                       + ("; waiting for approval" if inp.require_approval else ""))

    run(go())


@app.command("start")
def start_cmd(
    cluster: Annotated[str, typer.Option(help="Cluster whose backups are restored.")],
    filename: RestoreFiles = None,
    shard: Annotated[str | None, typer.Option(help="KEYSPACE/SHARD, e.g. customer/-80.")] = None,
    keyspace: Annotated[str | None, typer.Option(help="A whole keyspace.")] = None,
    backup: Annotated[str, typer.Option(help="Backup id, or latest.")] = "latest",
    into: Annotated[Path | None, typer.Option(help="Cluster document of new instances.")] = None,
    require_approval: Annotated[bool, typer.Option(help="Wait for `approve`.")] = False,
    schedule: Annotated[str | None, typer.Option(help="Schedule whose bucket to use.")] = None,
    name: Annotated[str | None, typer.Option(help="Restore name (default: generated).")] = None,
    strategy: Annotated[str | None, typer.Option(
        help="Only backups of this strategy (when several took one with the same id).")] = None,
    address: Address = None,
    namespace: Namespace = None,
    task_queue: TaskQueue = DEFAULT_TASK_QUEUE,
) -> None:
    """Start a restore from flags (the cluster and schedule documents come from -f)."""
    from shardkeeper.control import connect, restores

    ks, sh = keyspace, None
    if shard:
        ks, _, sh = shard.partition("/")
        if not sh:
            raise typer.BadParameter("use KEYSPACE/SHARD, e.g. customer/-80", param_hint="--shard")
    flags = restores.RestoreFlags(
        cluster=cluster, files=list(filename or []), keyspace=ks, shard=sh, backup=backup,
        into=into, require_approval=require_approval, schedule=schedule, name=name,
        strategy=strategy)

    async def go() -> None:
        inp = restores.input_of_flags(flags)
        client = await connect.connect(address, namespace)
        handle = await restores.start(client, inp, task_queue)
        typer.echo(f"restore/{inp.name} started (workflow {handle.id})"
                   + ("; waiting for approval" if require_approval else ""))

    run(go())


@app.command("approve")
def approve_cmd(
    name: RestoreName,
    cluster: RestoreCluster = None,
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """Approve a restore waiting in AwaitingApproval (the `approve_restore` update)."""
    from shardkeeper.control import connect, restores

    async def go() -> None:
        client = await connect.connect(address, namespace)
        handle = await restores.find(client, name, cluster)
        progress = await restores.approve(handle, getpass.getuser())
        typer.echo(f"restore/{name} approved (phase {progress.phase.value})")

    run(go())


@app.command("cancel")
def cancel_cmd(
    name: RestoreName,
    cluster: RestoreCluster = None,
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """Cancel a restore: it stops and undoes every change it made."""
    from shardkeeper.control import connect, restores

    async def go() -> None:
        client = await connect.connect(address, namespace)
        handle = await restores.find(client, name, cluster)
        await restores.cancel(handle, None)
        typer.echo(f"restore/{name} cancel requested; compensations run")

    run(go())


def describe_restore(
    name: RestoreName,
    cluster: RestoreCluster = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Live view until it ends.")] = False,
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """Phase, backup set and per-shard progress of a restore (bytes and rate per shard)."""
    from shardkeeper.cli.output import out
    from shardkeeper.control import connect, restores

    async def go() -> None:
        client = await connect.connect(address, namespace)
        handle = await restores.find(client, name, cluster)
        progress = await restores.snapshot(client, handle)
        if not watch:
            out.print(render(progress))
            return
        with Live(render(progress), console=out, refresh_per_second=4) as live:
            while progress.phase not in TERMINAL:
                await asyncio.sleep(1.0)
                progress = await restores.snapshot(client, handle)
                live.update(render(progress))

    run(go())


def render(p: RestoreProgress) -> Table:
    """The restore as a table: one row per shard, the phase and backup set in the title."""
    title = f"restore/{p.name}: {p.phase.value}"
    if p.approved_by:
        title += f" (approved by {p.approved_by})"
    if p.backup_set_note:
        title += f"\n{p.backup_set_note}"
    table = Table(title=title, caption=p.error or None)
    for col in ("SHARD", "BACKUP", "PHASE", "PROGRESS", "RATE", "ERROR"):
        table.add_column(col)
    for s in p.shards:
        done = f"{_mib(s.bytes_done)}/{_mib(s.bytes_total)}" if s.bytes_total else ""
        rate = f"{(s.rate_bytes_per_second or 0) / 2**20:.1f} MiB/s" if s.bytes_done else ""
        table.add_row(f"{s.keyspace}/{s.shard}", s.backup_id or "", s.phase.value, done, rate,
                      s.error or "")
    return table


def _mib(n: Any) -> str:
    return f"{(n or 0) / 2**20:.1f} MiB"
