"""``CHECKSUM TABLE`` of a keyspace: what tests compare between instances and after restores."""

from __future__ import annotations

from shardkeeper.control.stack.mariadb.instance import Connect, InstanceInfo


def table_checksums(connect: Connect, instance: InstanceInfo) -> dict[str, int]:
    """``CHECKSUM TABLE`` of every base table in the instance's keyspace database.

    Args:
        connect: How to open a connection to an instance.
        instance: The instance.

    Returns:
        ``{"<db>.<table>": checksum}``; tables added by tests are included.
    """
    with connect(instance) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = %s AND table_type = 'BASE TABLE' ORDER BY table_name",
            (instance.keyspace,),
        )
        tables = [str(r[0]) for r in cur.fetchall()]
        if not tables:
            return {}
        names = ", ".join(f"`{instance.keyspace}`.`{t}`" for t in tables)
        cur.execute(f"CHECKSUM TABLE {names} EXTENDED")
        return {str(name): int(value) for name, value in cur.fetchall()}
