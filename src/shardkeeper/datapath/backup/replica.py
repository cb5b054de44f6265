"""A replica's SQL thread that a stopped backup left stopped, started again.

``mariadb-backup --safe-slave-backup`` stops the replica's SQL thread and starts it again at
its end, which an engine killed midway (the agent stopped, SIGTERMed or SIGKILLed) never
reaches: the replica then stops applying changes, and every later backup passes it over.
Its signature is exact: the IO thread still running, the SQL thread stopped without an
error. An operator's ``STOP SLAVE`` stops both, and a failed SQL thread has an error:
neither is touched. Called by the agent when its engine ends early, and by the next
attempt's launch (after a SIGKILL nobody was left to call it).
"""

from __future__ import annotations

import pymysql
import pymysql.cursors
import structlog

from shardkeeper.contracts.common import DatabaseCredentials, Instance
from shardkeeper.datapath.credentials import resolve

log = structlog.get_logger(__name__)


def resume_sql_thread(instance: Instance, credentials: DatabaseCredentials) -> bool:
    """``START SLAVE SQL_THREAD`` where a backup left it stopped; True if it did."""
    where = ({"unix_socket": instance.socket} if instance.socket
             else {"host": instance.host or "127.0.0.1", "port": instance.port or 3306})
    try:
        password = resolve(credentials.password) if credentials.password else ""
        conn = pymysql.connect(user=credentials.user, password=password, connect_timeout=5,
                               read_timeout=30, cursorclass=pymysql.cursors.DictCursor,
                               autocommit=True, **where)
        with conn, conn.cursor() as cur:
            cur.execute("SHOW SLAVE STATUS")
            row = cur.fetchone() or {}
            stopped_by_backup = (row.get("Slave_IO_Running") == "Yes"
                                 and row.get("Slave_SQL_Running") == "No"
                                 and not row.get("Last_SQL_Errno"))
            if stopped_by_backup:
                cur.execute("START SLAVE SQL_THREAD")
                log.warning("replica.sql_thread_resumed", instance=instance.name,
                            why="a backup stopped midway left it stopped")
            return stopped_by_backup
    except Exception as exc:  # best effort: the backup's own outcome matters more
        log.warning("replica.resume_failed", instance=instance.name, error=type(exc).__name__)
        return False
