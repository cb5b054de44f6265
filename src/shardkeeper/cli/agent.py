"""``shardkeeper agent``: the data-path process an executor starts (never talks to Temporal)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

app = typer.Typer(help="Data-path agent (started by an executor).", no_args_is_help=True)


@app.command("backup")
def backup(
    request: Annotated[
        str | None, typer.Option(help="Request JSON file (default: $SHARDKEEPER_REQUEST_FILE).")
    ] = None,
    report: Annotated[
        str | None, typer.Option(help="Report file (default: $SHARDKEEPER_REPORT_FILE).")
    ] = None,
) -> None:
    """Stream one backup into the object store and write the report."""
    from shardkeeper.datapath.agent import run_backup_job
    from shardkeeper.observability import configure_logging

    configure_logging(json=True)
    sys.exit(run_backup_job(request_path=request, report_path=report))


@app.command("restore")
def restore(
    request: Annotated[
        str | None, typer.Option(help="Request JSON file (default: $SHARDKEEPER_REQUEST_FILE).")
    ] = None,
    report: Annotated[
        str | None, typer.Option(help="Report file (default: $SHARDKEEPER_REPORT_FILE).")
    ] = None,
) -> None:
    """Restore one shard backup (physical into a datadir, logical into a server)."""
    from shardkeeper.datapath.agent import run_restore_job
    from shardkeeper.observability import configure_logging

    configure_logging(json=True)
    sys.exit(run_restore_job(request_path=request, report_path=report))
