"""``python -m shardkeeper.agent backup|restore|verify|serve``: the agent's own, slim entry point.

Executors start one agent process per shard operation, often hundreds a night; each should
pay for the data path it runs, not for the typer app and every command's imports (Temporal
among them: the agent never talks to Temporal). So this module parses its arguments with
the standard library and imports ``datapath`` only inside the chosen command.
``shardkeeper agent …`` (the console script, and ``python -m shardkeeper agent …``) lands
here too, through ``cli/entry.py``.

The commands and their flags:

* ``backup [--request FILE] [--report FILE]``: stream one backup into the object store and
  write the report (defaults: ``$SHARDKEEPER_REQUEST_FILE``, ``$SHARDKEEPER_REPORT_FILE``).
* ``restore [--request FILE] [--report FILE]``: restore one shard backup.
* ``verify [--request FILE] [--report FILE]``: re-read one stored backup and record the
  verdict beside it.
* ``serve …``: the database pod's sidecar, streaming mariadb-backup over mTLS.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

DEFAULT_SOCKET = "/run/mysqld/mysqld.sock"
PASSWORD_ENV = "SHARDKEEPER_DB_PASSWORD"  # noqa: S105 - a variable name


def _job_options(parser: argparse.ArgumentParser) -> None:
    """The two files every job command reads and writes (shared by backup and restore)."""
    parser.add_argument("--request", help="Request JSON file (default: $SHARDKEEPER_REQUEST_FILE).")
    parser.add_argument("--report", help="Report file (default: $SHARDKEEPER_REPORT_FILE).")


def _serve_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--listen", default="0.0.0.0:8443", help="host:port to listen on.")
    add("--tls-cert", default="/etc/shardkeeper/tls/tls.crt", help="Server certificate (PEM).")
    add("--tls-key", default="/etc/shardkeeper/tls/tls.key", help="Server private key (PEM).")
    add("--client-ca", default="/etc/shardkeeper/tls/ca.crt",
        help="CA bundle that backup Jobs' client certificates chain to.")
    add("--socket", help=f"mariadbd's socket (default when no --host: {DEFAULT_SOCKET}).")
    add("--host", help="mariadbd's host, instead of a socket.")
    add("--port", type=int, help="mariadbd's port (with --host).")
    add("--datadir", help="The datadir as mounted here (the server's own path; informational).")
    add("--user", default="root", help="Backup account.")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password-env", help=f"Variable holding the password (default "
                                               f"{PASSWORD_ENV}, if set).")
    secret.add_argument("--password-file", help="File holding the password, instead of a "
                                                "variable.")


def parser() -> argparse.ArgumentParser:
    """The agent's argument parser (``prog`` as people type it: ``shardkeeper agent``)."""
    root = argparse.ArgumentParser(
        prog="shardkeeper agent", description="Data-path agent (started by an executor)."
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _job_options(commands.add_parser(
        "backup", help="Stream one backup into the object store and write the report."))
    _job_options(commands.add_parser(
        "restore", help="Restore one shard backup (physical into a datadir, logical into a "
                        "server)."))
    _job_options(commands.add_parser(
        "verify", help="Re-read one stored backup, check it against metadata.json, record "
                       "the verdict beside it."))
    _serve_options(commands.add_parser(
        "serve", help="Sidecar of a database pod: stream mariadb-backup over mTLS "
                      "(GET /backup)."))
    return root


def _serve(args: argparse.Namespace, fail: argparse.ArgumentParser) -> int:
    """Run the sidecar until it is stopped."""
    from pathlib import Path

    import structlog

    from shardkeeper.contracts.common import CredentialRef, DatabaseCredentials, Instance, Role
    from shardkeeper.datapath.backup.sidecar import SidecarConfig, parse_listen, serve

    socket = DEFAULT_SOCKET if args.socket is None and args.host is None else args.socket
    password: CredentialRef | None = None
    if args.password_file:
        password = CredentialRef(file=args.password_file)
    elif args.password_env:
        password = CredentialRef(env=args.password_env)
    elif PASSWORD_ENV in os.environ:
        password = CredentialRef(env=PASSWORD_ENV)
    try:
        address = parse_listen(args.listen)
    except ValueError as exc:
        fail.error(f"--listen: {exc}")
    config = SidecarConfig(
        # the role is chosen per request (?replica=1)
        instance=Instance(name=os.environ.get("HOSTNAME", "local"), role=Role.PRIMARY,
                          host=args.host, port=args.port, socket=socket, datadir=args.datadir),
        credentials=DatabaseCredentials(user=args.user, password=password),
        cert=Path(args.tls_cert), key=Path(args.tls_key), client_ca=Path(args.client_ca),
    )
    log = structlog.get_logger("shardkeeper.agent.serve")
    serve(config, address,
          on_ready=lambda bound: log.info("sidecar.listening", host=bound[0], port=bound[1]))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one agent command; returns its exit code (0 ok, 1 try again, 2 do not retry)."""
    root = parser()
    args = root.parse_args(argv)
    from shardkeeper.observability import configure_logging

    configure_logging(json=True)
    if args.command == "serve":
        return _serve(args, root)
    from shardkeeper.datapath import agent

    job = {"backup": agent.run_backup_job, "restore": agent.run_restore_job,
           "verify": agent.run_verify_job}[args.command]
    return job(request_path=args.request, report_path=args.report)


if __name__ == "__main__":
    sys.exit(main())
