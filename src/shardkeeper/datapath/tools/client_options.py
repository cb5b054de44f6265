"""MySQL option files for the clients the data path runs (mariadb-backup, mariadb-dump, mariadb).

This module owns the one way a database password reaches a child process: a ``[client]``
option file created with mode 0600 inside a private (0700) work directory, passed with
``--defaults-extra-file`` as the first option. Never argv (``ps`` shows it), never a log line.
"""

from __future__ import annotations

import os
from pathlib import Path

from shardkeeper.contracts.common import DatabaseCredentials, Instance
from shardkeeper.datapath.credentials import resolve
from shardkeeper.errors import SpecInvalid


def option_value(name: str, value: str) -> str:
    """Quote a value for a MySQL option file (double quotes, backslash escapes).

    Raises:
        SpecInvalid: The value contains a line break or NUL (the value is never echoed:
            it may be the password).
    """
    if any(c in value for c in "\n\r\0"):
        raise SpecInvalid(f"database option {name!r} contains a line break or NUL")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def write_client_defaults(
    path: Path, instance: Instance, credentials: DatabaseCredentials
) -> str | None:
    """Write a 0600 ``[client]`` file for ``instance``; return the password (for redaction).

    Raises:
        SpecInvalid: The password reference cannot be resolved, or a value is unsafe.
    """
    password = resolve(credentials.password) if credentials.password else None
    options = {"user": credentials.user}
    if password is not None:
        options["password"] = password
    if instance.socket:
        options["socket"] = instance.socket
    if instance.host:
        options["host"] = instance.host
    if instance.port:
        options["port"] = str(instance.port)
    lines = ["[client]"] + [f"{k}={option_value(k, v)}" for k, v in options.items()]
    # Created 0600 before anything is written, so the password is never world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return password
