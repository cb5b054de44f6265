"""A replica's SQL thread a stopped backup left stopped is started again; nothing else is.

Real GTID replicas of the session cluster. ``mariadb-backup --safe-slave-backup`` stops the
SQL thread and starts it at its end; an engine killed midway leaves the IO thread running
and the SQL thread stopped without an error, which is what is resumed. An operator's
``STOP SLAVE`` (both threads) is left alone.
"""

from __future__ import annotations

import os

import pymysql

from fixtures.servers import PASSWORD_ENV
from shardkeeper.contracts.common import CredentialRef, DatabaseCredentials, Instance, Role
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.datapath.backup.replica import resume_sql_thread


def _run(cluster: MariaDBCluster, instance: Instance, sql: str) -> None:
    with pymysql.connect(user=cluster.user, password=os.environ[PASSWORD_ENV],
                         unix_socket=instance.socket, autocommit=True) as conn:
        conn.cursor().execute(sql)


def test_only_a_backup_stopped_sql_thread_is_resumed(mariadb_cluster: MariaDBCluster) -> None:
    info = mariadb_cluster.replicas("customer", "80-")[0]
    replica = Instance(name=info.name, role=Role.REPLICA, socket=str(info.socket))
    creds = DatabaseCredentials(user=mariadb_cluster.user,
                                password=CredentialRef(env=PASSWORD_ENV))
    try:
        _run(mariadb_cluster, replica, "STOP SLAVE SQL_THREAD")  # what a killed backup leaves
        assert resume_sql_thread(replica, creds) is True
        status = mariadb_cluster.slave_status(info)
        assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("Yes", "Yes")

        _run(mariadb_cluster, replica, "STOP SLAVE")  # an operator's: both threads
        assert resume_sql_thread(replica, creds) is False
        status = mariadb_cluster.slave_status(info)
        assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("No", "No")
    finally:
        _run(mariadb_cluster, replica, "START SLAVE")
