"""check_shard_readiness / choose_source against real mariadbd primaries and replicas."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from temporalio.testing import ActivityEnvironment

from fixtures.e2e_stack import S3_KEY_ENV, S3_SECRET_ENV
from fixtures.servers import PASSWORD_ENV
from fixtures.wait import eventually_sync
from shardkeeper.activities.readiness import check_shard_readiness, choose_source
from shardkeeper.contracts.backup import (
    CheckShardReadinessInput,
    ChooseSourceInput,
)
from shardkeeper.contracts.common import CredentialRef, S3Credentials, S3Location
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.control.stack.binaries import ExecutableNotFoundError, StackStartError
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.stores.catalog import put_manifest
from shardkeeper.spec.convert import topology_of
from shardkeeper.spec.load import load


def _shard(cluster: MariaDBCluster, keyspace: str, shard: str) -> CheckShardReadinessInput:
    assert cluster.cluster_yaml is not None
    topo = topology_of(load([cluster.cluster_yaml]).clusters["demo"].resource)  # type: ignore[arg-type]
    s = next(x for x in topo.shards if (x.keyspace, x.shard) == (keyspace, shard))
    return CheckShardReadinessInput(shard=s, credentials=topo.credentials, cluster="demo")


async def test_healthy_shard_is_ready_and_a_replica_is_chosen(
    mariadb_cluster: MariaDBCluster,
) -> None:
    inp = _shard(mariadb_cluster, "customer", "-80")
    env = ActivityEnvironment()
    ready = await env.run(check_shard_readiness, inp)
    assert ready.ready, ready.reason
    assert ready.server_version and "MariaDB" in ready.server_version
    source = await env.run(choose_source, ChooseSourceInput(shard=inp.shard, readiness=ready))
    assert source.instance.role.value == "replica"
    primary = await env.run(choose_source, ChooseSourceInput(shard=inp.shard, readiness=ready,
                                                             target="primary"))
    assert primary.instance.role.value == "primary"


async def test_stopped_replication_makes_the_shard_not_ready(
    mariadb_cluster: MariaDBCluster,
) -> None:
    """The strict vitess rule, asked for explicitly (``readiness: all-tablets``)."""
    inp = _shard(mariadb_cluster, "customer", "80-").model_copy(
        update={"readiness": "all-tablets"})
    replica = mariadb_cluster.replicas("customer", "80-")[0]
    with mariadb_cluster.connect(replica) as conn, conn.cursor() as cur:
        cur.execute("STOP SLAVE SQL_THREAD")
    try:
        ready = await ActivityEnvironment().run(check_shard_readiness, inp)
        assert not ready.ready
        reason = ready.reason or ""
        assert "replication stopped" in reason and replica.name in reason
    finally:
        with mariadb_cluster.connect(replica) as conn, conn.cursor() as cur:
            cur.execute("START SLAVE SQL_THREAD")


async def test_first_backup_rule(
    mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS, s3_bucket: str,
) -> None:
    """allowFirstBackup false: not ready until a committed backup of the shard exists."""
    os.environ[S3_KEY_ENV], os.environ[S3_SECRET_ENV] = seaweed.access_key, seaweed.secret_key
    where = S3Location(bucket=s3_bucket, endpoint=seaweed.endpoint, force_path_style=True,
                       credentials=S3Credentials(access_key_id=CredentialRef(env=S3_KEY_ENV),
                                                 secret_access_key=CredentialRef(env=S3_SECRET_ENV)))
    inp = _shard(mariadb_cluster, "commerce", "-").model_copy(update={"require_backup_in": where})
    first = await ActivityEnvironment().run(check_shard_readiness, inp)
    assert not first.ready and "allowFirstBackup is false" in (first.reason or "")
    now = datetime.now(UTC)
    put_manifest(where, BackupManifest(
        cluster="demo", keyspace="commerce", shard="-", backup_id="20261122T020000Z",
        source_instance="commerce-x-1", source_role="replica", engine="mariabackup",
        object_key="demo/commerce/-/20261122T020000Z/backup.xbstream", size_bytes=1,
        sha256="00" * 32, parts=1, started_at=now, finished_at=now, verified_at=now))
    assert (await ActivityEnvironment().run(check_shard_readiness, inp)).ready
    assert os.environ[PASSWORD_ENV]


# ---- graceful readiness: a shard with two replicas, one of them broken -------------------


@pytest.fixture(scope="module")
def ledger(
    mariadb_cluster: MariaDBCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MariaDBCluster]:
    """Cluster ``ledger``: one shard, a primary and two replicas (the session's password)."""
    cluster = MariaDBCluster(
        tmp_path_factory.mktemp("ledger"), cluster="ledger", layout={"ledger": ["-"]},
        password=mariadb_cluster.password, rows_per_table=10, replicas_per_shard=2,
    )
    try:
        cluster.start()
    except (StackStartError, ExecutableNotFoundError) as exc:
        pytest.fail(f"ledger cluster did not start: {exc}", pytrace=False)
    cluster.write_cluster_yaml(tmp_path_factory.mktemp("ledger-doc") / "c.yaml", PASSWORD_ENV)
    yield cluster
    cluster.stop()


def _ledger_input(cluster: MariaDBCluster, **update: object) -> CheckShardReadinessInput:
    assert cluster.cluster_yaml is not None
    topo = topology_of(load([cluster.cluster_yaml]).clusters["ledger"].resource)  # type: ignore[arg-type]
    return CheckShardReadinessInput(shard=topo.shards[0], credentials=topo.credentials,
                                    cluster="ledger").model_copy(update=update)


def _sql(cluster: MariaDBCluster, name: str, *statements: str) -> None:
    with cluster.connect(cluster.instance(name)) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def _heal(cluster: MariaDBCluster) -> None:
    """Every replica replicating again, without delay, and caught up."""
    for replica in cluster.replicas("ledger", "-"):
        cluster.start_instance(replica)
        _sql(cluster, replica.name, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY=0",
             "START SLAVE")
    cluster.wait_replicas_caught_up()


async def _choose(inp: CheckShardReadinessInput, target: str = "prefer-replica") -> tuple[
    bool, str, str]:
    env = ActivityEnvironment()
    ready = await env.run(check_shard_readiness, inp)
    assert ready.ready, ready.reason
    source = await env.run(choose_source, ChooseSourceInput(
        shard=inp.shard, readiness=ready, target=target))  # type: ignore[arg-type]
    return ready.ready, source.instance.name, source.reason


async def test_a_stopped_replica_is_passed_over_for_the_healthy_one(
    ledger: MariaDBCluster,
) -> None:
    stopped, healthy = (r.name for r in ledger.replicas("ledger", "-"))
    _sql(ledger, stopped, "STOP SLAVE")
    try:
        _, chosen, reason = await _choose(_ledger_input(ledger))
        assert chosen == healthy, reason
        assert f"replica {healthy}: healthy" in reason
        assert f"passed over replica {stopped}: replication stopped" in reason
        # the vitess rule, asked for: the same shard is not ready, naming the stopped replica
        strict = await ActivityEnvironment().run(
            check_shard_readiness, _ledger_input(ledger, readiness="all-tablets"))
        assert not strict.ready
        assert f"readiness all-tablets: replica {stopped}: replication stopped" in (
            strict.reason or "")
    finally:
        _heal(ledger)


async def test_a_killed_replica_is_passed_over_for_the_healthy_one(
    ledger: MariaDBCluster,
) -> None:
    healthy, killed = (r.name for r in ledger.replicas("ledger", "-"))
    ledger.process(ledger.instance(killed)).kill()
    try:
        _, chosen, reason = await _choose(_ledger_input(ledger))
        assert chosen == healthy, reason
        assert f"passed over replica {killed}: unreachable" in reason
    finally:
        _heal(ledger)


def _wait_lag(cluster: MariaDBCluster, name: str, at_least: int) -> None:
    """Write on the primary until the delayed replica reports ``at_least`` seconds of lag."""
    primary = cluster.primary("ledger", "-").name

    def write_then_lag() -> object:
        _sql(cluster, primary, "INSERT INTO ledger.events (id, kind, payload) "
             "SELECT COALESCE(MAX(id), 0) + 1, 'lag', 'x' FROM ledger.events")
        return cluster.slave_status(cluster.instance(name)).get("Seconds_Behind_Master")

    eventually_sync(write_then_lag, 30, f"replica {name} to lag {at_least}s behind",
                    until=lambda lag: lag is not None and int(lag) >= at_least, interval=0.5)


async def test_lagging_replica_passed_over_then_the_primary_as_fallback(
    ledger: MariaDBCluster,
) -> None:
    """A real lag (MASTER_DELAY while the primary writes) beyond maxReplicaLag: the other
    replica is chosen; with that one stopped too, the primary is (seed 002's fallback)."""
    healthy, lagging = (r.name for r in ledger.replicas("ledger", "-"))
    primary = ledger.primary("ledger", "-").name
    _sql(ledger, lagging, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY=60", "START SLAVE")
    try:
        _wait_lag(ledger, lagging, 3)
        inp = _ledger_input(ledger, max_replica_lag_seconds=2)
        _, chosen, reason = await _choose(inp)
        assert chosen == healthy, reason
        assert f"passed over replica {lagging}: lag " in reason
        assert "exceeds maxReplicaLag 2s" in reason

        _sql(ledger, healthy, "STOP SLAVE")
        _, chosen, reason = await _choose(inp)
        assert chosen == primary, reason
        assert reason.startswith(f"primary {primary}: no healthy replica"), reason
        assert f"replica {lagging}: lag " in reason
        assert f"replica {healthy}: replication stopped" in reason

        _, chosen, reason = await _choose(inp, target="primary")
        assert (chosen, reason) == (primary, f"primary {primary}: target is primary")
    finally:
        _heal(ledger)
