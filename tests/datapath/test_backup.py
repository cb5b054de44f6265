"""run_backup against a real MariaDB replica and a real SeaweedFS: the object, or nothing."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from dp_support import RequestFactory, instance_of

from shardkeeper import naming
from shardkeeper.contracts.agent import AgentProgress
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.backup.run import run_backup
from shardkeeper.errors import EngineFailed, PermanentError

MiB = 1 << 20


def _download(seaweed: SeaweedFS, bucket: str, key: str, dest: Path) -> str:
    seaweed.client().download_file(bucket, key, str(dest))
    sha = hashlib.sha256()
    with dest.open("rb") as handle:
        while chunk := handle.read(MiB):
            sha.update(chunk)
    return sha.hexdigest()


def _open_uploads(seaweed: SeaweedFS, bucket: str) -> list[str]:
    uploads = seaweed.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [u.get("Key", "") for u in uploads]


def _keys(seaweed: SeaweedFS, bucket: str) -> list[str]:
    page = seaweed.client().list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in page.get("Contents", [])]


def test_replica_backup_is_a_restorable_object(
    make_request: RequestFactory,
    mariadb_cluster: MariaDBCluster,
    seaweed: SeaweedFS,
    tmp_path: Path,
) -> None:
    replica = mariadb_cluster.replicas("customer", "-80")[0]
    request = make_request(replica)
    progress: list[AgentProgress] = []

    report = run_backup(request, progress.append)

    assert report.key == request.key
    assert report.size_bytes > 0 and report.parts >= 1
    stream = tmp_path / "backup.xbstream"
    assert _download(seaweed, request.destination.bucket, request.key, stream) == report.sha256
    assert stream.stat().st_size == report.size_bytes
    # The consistent point comes from the backup's own xtrabackup_binlog_info/slave_info.
    assert report.binlog.file and report.binlog.position and report.binlog.gtid
    assert report.replica_source_binlog is not None and report.replica_source_binlog.gtid
    assert report.engine == "mariabackup"
    assert report.engine_version and "MariaDB" in report.engine_version
    assert report.server_version and "MariaDB" in report.server_version
    assert report.started_at <= report.finished_at
    assert progress and progress[-1].bytes_streamed == report.size_bytes
    assert _open_uploads(seaweed, request.destination.bucket) == []

    target = tmp_path / "restore"
    target.mkdir()
    with stream.open("rb") as handle:
        subprocess.run(["mbstream", "-x", "-C", str(target)], stdin=handle, check=True)
    binlog_info = (target / "xtrabackup_binlog_info").read_text().split("\t")
    assert binlog_info[0] == report.binlog.file
    prepared = subprocess.run(
        ["mariadb-backup", "--prepare", f"--target-dir={target}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    assert (target / "customer").is_dir()


def test_small_parts_give_several_parts_and_the_same_digest(
    make_request: RequestFactory, mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS,
    tmp_path: Path,
) -> None:
    primary = mariadb_cluster.primary("commerce", "-")
    request = make_request(primary, part_size_bytes=5 * MiB, max_parts_in_flight=3)

    report = run_backup(request, lambda _p: None)

    assert report.parts == -(-report.size_bytes // (5 * MiB)) and report.parts >= 3
    dest = tmp_path / "b"
    assert _download(seaweed, request.destination.bucket, request.key, dest) == report.sha256
    assert report.replica_source_binlog is None  # a primary has no source coordinates


def test_wrong_socket_leaves_no_object_and_no_upload(
    make_request: RequestFactory, mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS,
    tmp_path: Path,
) -> None:
    replica = mariadb_cluster.replicas("commerce", "-")[0]
    bad = instance_of(replica, socket=str(tmp_path / "nope.sock"))
    # 5 MiB parts: whatever the engine streams before it fails may fill whole parts.
    request = make_request(replica, source=bad, part_size_bytes=5 * MiB)

    with pytest.raises(EngineFailed) as caught:
        run_backup(request, lambda _p: None)

    message = str(caught.value)
    assert "mariabackup" in message and "status" in message
    assert mariadb_cluster.password not in message
    assert _keys(seaweed, request.destination.bucket) == []
    assert _open_uploads(seaweed, request.destination.bucket) == []


def test_wrong_port_over_tcp_fails_cleanly(
    make_request: RequestFactory, mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS
) -> None:
    replica = mariadb_cluster.replicas("commerce", "-")[0]
    bad = instance_of(replica, socket=None, host="127.0.0.1", port=1)
    request = make_request(replica, source=bad)

    with pytest.raises(EngineFailed):
        run_backup(request, lambda _p: None)

    assert _keys(seaweed, request.destination.bucket) == []
    assert _open_uploads(seaweed, request.destination.bucket) == []


def test_committed_backup_is_refused(
    make_request: RequestFactory, mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS
) -> None:
    request = make_request()
    loc = request.destination
    manifest = naming.manifest_key(
        loc.prefix, request.cluster, request.keyspace, request.shard, request.backup_id
    )
    seaweed.client().put_object(Bucket=loc.bucket, Key=manifest, Body=b"{}")

    with pytest.raises(PermanentError, match="already committed"):
        run_backup(request, lambda _p: None)

    assert _keys(seaweed, loc.bucket) == [manifest]


def test_orphaned_upload_of_the_same_key_is_aborted_first(
    make_request: RequestFactory, mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS
) -> None:
    request = make_request()
    client = seaweed.client()
    client.create_multipart_upload(Bucket=request.destination.bucket, Key=request.key)
    assert len(_open_uploads(seaweed, request.destination.bucket)) == 1

    run_backup(request, lambda _p: None)

    assert _open_uploads(seaweed, request.destination.bucket) == []
    assert request.key in _keys(seaweed, request.destination.bucket)
