"""A sharded MariaDB cluster on one host: per shard a primary and GTID replicas, seeded.

Each instance is a private ``mariadbd`` (``--no-defaults``, own datadir, socket and loopback
port) started by this process; the machine's own MariaDB is never used. Accounts are created at
bootstrap (``mariadb-install-db --extra-file``), so no instance is ever reachable with a
passwordless root over TCP: ``root@localhost`` only accepts the OS user over the socket, and
shardkeeper's account and the replication account have passwords. Each keyspace is a database
of the same name, seeded with deterministic rows that differ per shard.

The room, one aspect per module:

=================  ==========================================================================
``instance``       one ``mariadbd``: its name, command line, connection, start and readiness
``install``        fresh datadirs, copied from one bootstrapped template
``accounts``       the accounts every instance is born with
``replication``    wiring replicas to their primary and waiting for them to catch up
``seed``           the deterministic per-shard schema and rows
``checksums``      ``CHECKSUM TABLE`` of a keyspace, to compare instances
``cluster_yaml``   the ``kind: Cluster`` document describing the running cluster
``cluster``        :class:`MariaDBCluster`, which puts the aspects together
=================  ==========================================================================
"""

from shardkeeper.control.stack.mariadb.accounts import REPLICATION_USER
from shardkeeper.control.stack.mariadb.cluster import DEFAULT_LAYOUT, MariaDBCluster
from shardkeeper.control.stack.mariadb.instance import InstanceInfo, Role, instance_name
from shardkeeper.control.stack.mariadb.seed import SEEDED_TABLES

__all__ = [
    "DEFAULT_LAYOUT",
    "REPLICATION_USER",
    "SEEDED_TABLES",
    "InstanceInfo",
    "MariaDBCluster",
    "Role",
    "instance_name",
]
