"""How big a backup will be, roughly, so progress can show an ETA.

This module asks the source server how much data it holds (``information_schema``): a cheap
query with a short timeout, never required. InnoDB's statistics are approximate and a
physical stream adds the system tablespace and redo log, so the figure is labelled an
estimate everywhere it appears; a failure simply means no ETA.
"""

from __future__ import annotations

import pymysql
import structlog

from shardkeeper.contracts.agent import AgentBackupRequest
from shardkeeper.datapath.credentials import resolve

log = structlog.get_logger(__name__)

_SYSTEM = ("mysql", "sys", "information_schema", "performance_schema")
_SUM = (
    "SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema"
)


def estimate_raw_bytes(request: AgentBackupRequest) -> int | None:
    """Data + index bytes of what the request backs up, or None if the server won't say."""
    source = request.source
    try:
        password = resolve(request.credentials.password) if request.credentials.password else ""
        where = (
            {"unix_socket": source.socket}
            if source.socket
            else {"host": source.host or "127.0.0.1", "port": source.port or 3306}
        )
        conn = pymysql.connect(
            user=request.credentials.user,
            password=password,
            connect_timeout=5,
            read_timeout=30,
            **where,
        )
    except Exception as exc:  # an estimate is optional: never fail the backup for it
        log.info("estimate.unavailable", reason=type(exc).__name__)
        return None
    try:
        with conn.cursor() as cur:
            if request.databases and request.engine in ("logical", "mariadb-dump"):
                marks = ", ".join(["%s"] * len(request.databases))
                # Only placeholders are formatted in; the names are bound parameters.
                query = f"{_SUM} IN ({marks})"
                cur.execute(query, tuple(request.databases))
            else:
                marks = ", ".join(["%s"] * len(_SYSTEM))
                query = f"{_SUM} NOT IN ({marks})"
                cur.execute(query, _SYSTEM)
            row = cur.fetchone()
    except Exception as exc:
        log.info("estimate.unavailable", reason=type(exc).__name__)
        return None
    finally:
        conn.close()
    value = int(row[0]) if row and row[0] is not None else 0
    return value or None
