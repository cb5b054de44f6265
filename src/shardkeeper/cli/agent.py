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


@app.command("serve")
def serve(
    listen: Annotated[str, typer.Option(help="host:port to listen on.")] = "0.0.0.0:8443",
    tls_cert: Annotated[str, typer.Option(help="Server certificate (PEM).")] = (
        "/etc/shardkeeper/tls/tls.crt"
    ),
    tls_key: Annotated[str, typer.Option(help="Server private key (PEM).")] = (
        "/etc/shardkeeper/tls/tls.key"
    ),
    client_ca: Annotated[
        str, typer.Option(help="CA bundle that backup Jobs' client certificates chain to.")
    ] = "/etc/shardkeeper/tls/ca.crt",
    socket: Annotated[
        str | None, typer.Option(help="mariadbd's socket (default when no --host).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="mariadbd's host, instead of a socket.")] = None,
    port: Annotated[int | None, typer.Option(help="mariadbd's port (with --host).")] = None,
    datadir: Annotated[
        str | None,
        typer.Option(help="The datadir as mounted here (the server's own path; informational)."),
    ] = None,
    user: Annotated[str, typer.Option(help="Backup account.")] = "root",
    password_env: Annotated[
        str | None,
        typer.Option(help="Variable holding the password (default SHARDKEEPER_DB_PASSWORD, "
                          "if set)."),
    ] = None,
    password_file: Annotated[
        str | None, typer.Option(help="File holding the password, instead of a variable.")
    ] = None,
) -> None:
    """Sidecar of a database pod: stream mariadb-backup over mTLS (GET /backup)."""
    import os
    from pathlib import Path

    import structlog

    from shardkeeper.contracts.common import (
        CredentialRef,
        DatabaseCredentials,
        Instance,
        Role,
    )
    from shardkeeper.datapath.sidecar import SidecarConfig, parse_listen
    from shardkeeper.datapath.sidecar import serve as run_server
    from shardkeeper.observability import configure_logging

    configure_logging(json=True)
    if password_env and password_file:
        raise typer.BadParameter("give --password-env or --password-file, not both")
    if socket is None and host is None:
        socket = "/run/mysqld/mysqld.sock"
    if password_file:
        password: CredentialRef | None = CredentialRef(file=password_file)
    elif password_env:
        password = CredentialRef(env=password_env)
    elif "SHARDKEEPER_DB_PASSWORD" in os.environ:
        password = CredentialRef(env="SHARDKEEPER_DB_PASSWORD")
    else:
        password = None
    try:
        address = parse_listen(listen)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    config = SidecarConfig(
        # the role is chosen per request (?replica=1)
        instance=Instance(name=os.environ.get("HOSTNAME", "local"), role=Role.PRIMARY,
                          host=host, port=port, socket=socket, datadir=datadir),
        credentials=DatabaseCredentials(user=user, password=password),
        cert=Path(tls_cert), key=Path(tls_key), client_ca=Path(client_ca),
    )
    log = structlog.get_logger("shardkeeper.agent.serve")
    run_server(config, address,
               on_ready=lambda bound: log.info("sidecar.listening", host=bound[0],
                                               port=bound[1]))
