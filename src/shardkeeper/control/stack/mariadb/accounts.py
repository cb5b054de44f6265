"""The accounts every instance is born with: shardkeeper's and the replication account.

They are created at bootstrap (``mariadb-install-db --extra-file``), never afterwards, so no
instance is ever reachable with a passwordless root over TCP: ``root@localhost`` only accepts
the OS user over the socket.
"""

from __future__ import annotations

from typing import Final

from pymysql.converters import escape_string

from shardkeeper.control.stack.ports import LOOPBACK

SHARDKEEPER_USER: Final = "shardkeeper"
REPLICATION_USER: Final = "repl"


def accounts_sql(user: str, password: str, replication_password: str) -> str:
    """The bootstrap SQL that creates ``user`` (all privileges) and the replication account.

    Args:
        user: shardkeeper's account, created for ``localhost`` and the loopback address.
        password: Its password.
        replication_password: The password of :data:`REPLICATION_USER`.

    Returns:
        SQL statements, one per line; the text holds secrets, so it goes to a private file.
    """
    pw = escape_string(password)
    repl_pw = escape_string(replication_password)
    # Bootstrap runs with the grant tables disabled; loading them enables account DDL.
    lines = ["FLUSH PRIVILEGES;"]
    for host in ("localhost", LOOPBACK):
        account = f"'{user}'@'{host}'"
        lines += [
            f"CREATE USER {account} IDENTIFIED BY '{pw}';",
            # ALL covers RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SLAVE MONITOR,
            # REPLICATION SLAVE ADMIN: what mariadb-backup --slave-info
            # --safe-slave-backup, readiness checks and re-pointing replicas need.
            f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION;",
        ]
    lines += [
        f"CREATE USER '{REPLICATION_USER}'@'{LOOPBACK}' IDENTIFIED BY '{repl_pw}';",
        f"GRANT REPLICATION SLAVE ON *.* TO '{REPLICATION_USER}'@'{LOOPBACK}';",
    ]
    return "\n".join(lines) + "\n"
