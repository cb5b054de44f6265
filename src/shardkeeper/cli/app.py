"""The typer root: every command, and the error boundary.

Commands parse, call control/ or worker/, and render. A ShardkeeperError becomes one readable
message and exit code 2 (fix the input) or 1 (try again); never a traceback unless --debug.
Command modules run their coroutines through ``cli/runner.py`` and never import this module.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from shardkeeper.cli import agent, backup, backups, delete, plan, restore, schedules, up
from shardkeeper.cli.options import DEFAULT_TASK_QUEUE, Address, Files, Namespace, TaskQueue
from shardkeeper.cli.output import err
from shardkeeper.cli.runner import run
from shardkeeper.observability import configure_logging

app = typer.Typer(
    name="shardkeeper",
    help="Temporal-native backup and restore orchestration for sharded MySQL/MariaDB.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(schedules.schedule_app, name="schedule")
app.add_typer(schedules.get_app, name="get")
app.add_typer(schedules.describe_app, name="describe")
app.add_typer(delete.app, name="delete")
app.add_typer(backups.app, name="backups")
app.add_typer(backup.app, name="backup")
app.command("agent", context_settings=agent.CONTEXT, add_help_option=False)(agent.agent)
app.add_typer(restore.app, name="restore")
schedules.describe_app.command("restore")(restore.describe_restore)
app.command("up")(up.up)
app.command("plan")(plan.plan)


@app.command()
def apply(
    filename: Files,
    address: Address = None,
    namespace: Namespace = None,
    task_queue: TaskQueue = DEFAULT_TASK_QUEUE,
    preflight: Annotated[
        bool,
        typer.Option(
            help="Check each destination first: an S3 bucket and its credentials; a filesystem "
            "directory exists and is writable (local executor only); then check and write "
            "its repository marker."
        ),
    ] = True,
) -> None:
    """Create or update one Temporal Schedule per BackupSchedule document.

    A Cluster document also updates the topology of that cluster's applied schedules.
    """
    from shardkeeper.control import connect, schedules
    from shardkeeper.datapath.stores import repository
    from shardkeeper.spec.load import load
    from shardkeeper.spec.validate import check_references

    async def go() -> None:
        specs = load(filename)
        check_references(specs)
        if not specs.schedules and not specs.clusters:
            err.print("no BackupSchedule or Cluster documents found; nothing to apply")
            return
        if preflight:
            await schedules.preflight(specs)
            for where in await schedules.claim_repositories(specs):
                typer.echo(f"repository {where} marked ({repository.MARKER_OBJECT})")
        client = await connect.connect(address, namespace)
        applied = await schedules.apply(client, specs, task_queue)
        applied += await schedules.reapply_topology(client, specs, applied)
        for r in applied:
            typer.echo(f"backupschedule/{r.name} {r.action} (temporal schedule {r.schedule_id})")
            if r.first_backup:
                typer.echo(f"  first backup of shards without one: workflow {r.first_backup}")

    run(go())


@app.command()
def worker(
    address: Address = None,
    namespace: Namespace = None,
    task_queue: TaskQueue = DEFAULT_TASK_QUEUE,
    jobs_dir: Annotated[
        Path | None, typer.Option(envvar="SHARDKEEPER_JOBS_DIR", help="Local executor jobs dir.")
    ] = None,
) -> None:
    """Run the Temporal worker until SIGTERM/SIGINT (graceful shutdown)."""
    from shardkeeper.control import connect
    from shardkeeper.worker.main import run_worker
    from shardkeeper.worker.settings import WorkerSettings

    configure_logging()
    base = WorkerSettings.from_env()
    settings = WorkerSettings(
        task_queue=task_queue,
        jobs_dir=jobs_dir or base.jobs_dir,
        graceful_shutdown_seconds=base.graceful_shutdown_seconds,
    )

    async def go() -> None:
        client = await connect.connect(address, namespace)
        await run_worker(client, settings)

    run(go())


def main() -> None:
    """Console-script entry point.

    Exits through ``os._exit`` after running the atexit handlers and flushing: the Temporal
    SDK's native runtime can abort the interpreter during finalization (sdk-python#300),
    which would turn a successful command into exit code -6.
    """
    code = 0
    try:
        app()
    except SystemExit as exc:
        if isinstance(exc.code, int):
            code = exc.code
        elif exc.code is not None:
            print(exc.code, file=sys.stderr)
            code = 1
    finally:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
