"""The deterministic per-shard seed: three tables whose rows differ per shard, reproducibly.

Each keyspace is a database of the same name. Rows come from the SEQUENCE engine inside the
server, so GBs seed at disk speed instead of at client round-trip speed, and a per-shard tag
makes every shard's data different yet reproducible.
"""

from __future__ import annotations

from typing import Final

from shardkeeper.control.stack.mariadb.instance import Connect, InstanceInfo

SEEDED_TABLES: Final = ("customers", "orders", "events")

_SEED_BATCH_ROWS: Final = 50_000  # one transaction per batch keeps binlog events and undo small

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS customers (id BIGINT PRIMARY KEY,"
    " email VARCHAR(128) NOT NULL, name VARCHAR(64) NOT NULL,"
    " created_at DATETIME NOT NULL) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS orders (id BIGINT PRIMARY KEY,"
    " customer_id BIGINT NOT NULL, amount_cents BIGINT NOT NULL,"
    " status VARCHAR(16) NOT NULL, note VARCHAR(255) NOT NULL,"
    " KEY by_customer (customer_id)) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS events (id BIGINT PRIMARY KEY,"
    " kind VARCHAR(32) NOT NULL, payload VARBINARY(1024) NOT NULL) ENGINE=InnoDB",
)

# Seed statements: ``{seq}`` is a SEQUENCE-engine table such as ``seq_1_to_50000``, ``%s`` the
# shard's tag (bound, never formatted), so rows are deterministic per shard and differ across.
_SEED_CUSTOMERS: Final = (
    "INSERT INTO customers SELECT seq, CONCAT('user', seq, '@', SUBSTR(SHA2(%s, 256), 1, 8),"
    " '.example'), CONCAT('Customer ', seq),"
    " TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq MINUTE FROM {seq}"
)
_SEED_ORDERS: Final = (
    "INSERT INTO orders SELECT seq, 1 + (seq * 7) %% {rows},"
    " CONV(SUBSTR(SHA2(CONCAT(%s, seq), 256), 1, 7), 16, 10),"
    " ELT(1 + seq %% 3, 'new', 'paid', 'shipped'),"
    " SHA2(CONCAT(%s, 'order', seq), 256) FROM {seq}"
)
_SEED_EVENTS: Final = (
    "INSERT INTO events SELECT seq, ELT(1 + seq %% 4, 'login', 'view', 'cart', 'buy'),"
    " REPEAT(SHA2(CONCAT(%s, 'event', seq), 256), 8) FROM {seq}"
)


def seed(connect: Connect, primary: InstanceInfo, cluster: str, rows: int) -> None:
    """Create the keyspace's database and tables on ``primary`` and insert ``rows`` per table.

    Args:
        connect: How to open a connection to an instance.
        primary: The shard's primary (replicas get the rows through replication).
        cluster: The cluster's name, part of the shard's tag.
        rows: Rows per table; 0 creates the schema only.
    """
    db = primary.keyspace
    tag = f"{cluster}/{primary.keyspace}/{primary.shard}"
    with connect(primary) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
        cur.execute(f"USE `{db}`")
        for statement in _SCHEMA:
            cur.execute(statement)
        for first in range(1, rows + 1, _SEED_BATCH_ROWS):
            last = min(rows, first + _SEED_BATCH_ROWS - 1)
            # Only integers are formatted into the SQL; the tag is a bound parameter.
            seq = f"seq_{int(first)}_to_{int(last)}"
            for statement, params in (
                (_SEED_CUSTOMERS.format(seq=seq), (tag,)),
                (_SEED_ORDERS.format(seq=seq, rows=max(int(rows), 1)), (tag, tag)),
                (_SEED_EVENTS.format(seq=seq), (tag,)),
            ):
                cur.execute(statement, params)
