"""Bytes damaged between S3 and the reader are never accepted: verify and restore refuse them.

A real backup in SeaweedFS, read through an HTTP proxy that damages the object's GET
answers the way networks and overloaded servers do: one flipped byte (same length, only a
checksum can tell), a body cut in half under the full Content-Length, a connection reset
after the status line. `backups verify` (the agent's check) and restore staging read the
object through it: neither ever reports the backup good, nor stages anything, from bytes
that are not the stored ones.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from dp_support import RequestFactory, commit
from faulty_proxy import FaultyProxy

from shardkeeper.contracts.common import S3Location
from shardkeeper.contracts.verify import AgentVerifyRequest
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.backup.run import run_backup
from shardkeeper.datapath.restore.physical import stage_backup
from shardkeeper.datapath.stores.checks import check_backup
from shardkeeper.errors import ShardkeeperError


@pytest.mark.parametrize("fault", ["flip", "truncate", "reset"])
def test_damaged_reads_never_pass_verification_nor_reach_a_restore(
    make_request: RequestFactory, mariadb_cluster: MariaDBCluster, s3_location: S3Location,
    seaweed: SeaweedFS, tmp_path: Path, fault: str,
) -> None:
    request = make_request(mariadb_cluster.primary("commerce", "-"), location=s3_location)
    manifest = commit(request, run_backup(request, lambda _p: None))
    proxy = FaultyProxy(seaweed.endpoint, lambda *_: False, response_fault=lambda method, path:
                        fault if method == "GET" and path.endswith(manifest.object_key)
                        else None).start()
    try:
        through = s3_location.model_copy(update={"endpoint": proxy.endpoint})
        verdict = None
        # a read that fails outright (no verdict) is also never a wrong "passed"
        with contextlib.suppress(ShardkeeperError):
            verdict = check_backup(AgentVerifyRequest(
                cluster=manifest.cluster, keyspace=manifest.keyspace, shard=manifest.shard,
                backup_id=manifest.backup_id, directory=manifest.directory(),
                destination=through))
        if verdict is not None:
            assert verdict.result == "failed", verdict
            assert {"size", "sha256"} & set(verdict.failed_checks()), verdict
        target = tmp_path / "stage" / "staged"
        with pytest.raises(ShardkeeperError):
            stage_backup(through, manifest, target)
        assert not target.parent.exists() or list(target.parent.iterdir()) == [], \
            "nothing staged from damaged bytes"
        assert proxy.mangled >= 2, "both readers really got damaged answers"
    finally:
        proxy.stop()
    # the stored backup itself is intact: read directly, it passes
    direct = check_backup(AgentVerifyRequest(
        cluster=manifest.cluster, keyspace=manifest.keyspace, shard=manifest.shard,
        backup_id=manifest.backup_id, directory=manifest.directory(), destination=s3_location))
    assert direct.result == "passed", direct
