"""Backup and restore round trips: engine x compression x encryption x destination.

Every case backs up the small ``commerce/-`` shard of the real cluster into the real
SeaweedFS (or a directory), commits it as the workflow does (verify, metadata.json), finds
it again from the raw store alone, restores it and compares ``CHECKSUM TABLE`` of every
table with the source: physical backups in a fresh mariadbd started on the restored
datadir, logical ones in a shared scratch instance.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dp_support import PASSWORD_ENV, RequestFactory, commit
from restored import RestoredServer

from shardkeeper.contracts.agent import CompressionSpec, EncryptionSpec
from shardkeeper.contracts.common import (
    CredentialRef,
    DatabaseCredentials,
    FilesystemLocation,
    Instance,
    Role,
    S3Location,
)
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.datapath.backup.run import run_backup
from shardkeeper.datapath.restore.logical import restore_logical
from shardkeeper.datapath.restore.physical import copy_back, stage_backup
from shardkeeper.datapath.restore.resolve import resolve_backup

COMBOS = [
    pytest.param(dest, zstd, enc, id=f"{dest}-{'zstd' if zstd else 'raw'}{'-enc' if enc else ''}")
    for dest in ("s3", "fs")
    for zstd in (False, True)
    for enc in (False, True)
]
_server_ids = iter(range(900, 980))


def _options(zstd: bool, enc: bool, key: CredentialRef) -> dict[str, object]:
    return {
        "compression": CompressionSpec(level=3) if zstd else None,
        "encryption": EncryptionSpec(key=key, chunk_size_bytes=256 << 10) if enc else None,
    }


def _check_stream_info(manifest_stream: object, zstd: bool, enc: bool) -> None:
    from shardkeeper.contracts.agent import StreamInfo

    assert isinstance(manifest_stream, StreamInfo)
    assert (manifest_stream.compression is not None) == zstd
    assert (manifest_stream.encryption is not None) == enc
    if manifest_stream.encryption is not None:
        assert len(manifest_stream.encryption.key_id) == 16
    assert manifest_stream.raw_size_bytes > 0


@pytest.mark.parametrize(("dest", "zstd", "enc"), COMBOS)
def test_physical_round_trip(
    dest: str,
    zstd: bool,
    enc: bool,
    make_request: RequestFactory,
    mariadb_cluster: MariaDBCluster,
    s3_location: S3Location,
    fs_location: FilesystemLocation,
    backup_key: CredentialRef,
    tmp_path: Path,
) -> None:
    location = s3_location if dest == "s3" else fs_location
    primary = mariadb_cluster.primary("commerce", "-")
    expected = mariadb_cluster.table_checksums(primary)
    request = make_request(primary, location=location, **_options(zstd, enc, backup_key))

    report = run_backup(request, lambda _p: None)
    commit(request, report)

    manifest = resolve_backup(location, request.cluster, "commerce", "-")  # latest
    assert manifest.backup_id == request.backup_id and manifest.schema_version == 2
    _check_stream_info(manifest.stream, zstd, enc)
    suffix = (".zst" if zstd else "") + (".enc" if enc else "")
    assert report.key.endswith("backup.xbstream" + suffix)
    if zstd:
        assert manifest.stream is not None and manifest.size_bytes < manifest.stream.raw_size_bytes
    staged = stage_backup(location, manifest, tmp_path / "staged", backup_key if enc else None)
    assert staged.sha256 == manifest.sha256 and staged.binlog.file == manifest.binlog.file
    home = tmp_path / "restored"
    copy_back(staged.staged_dir, home / "data")
    assert not staged.staged_dir.exists()  # moved back, not copied

    with RestoredServer(mariadb_cluster, primary, home / "data", home, next(_server_ids)) as db:
        assert db.checksums("commerce") == expected


@pytest.mark.parametrize(("dest", "zstd", "enc"), COMBOS)
def test_logical_round_trip(
    dest: str,
    zstd: bool,
    enc: bool,
    make_request: RequestFactory,
    mariadb_cluster: MariaDBCluster,
    s3_location: S3Location,
    fs_location: FilesystemLocation,
    backup_key: CredentialRef,
    scratch_server: RestoredServer,
) -> None:
    location = s3_location if dest == "s3" else fs_location
    primary = mariadb_cluster.primary("commerce", "-")
    expected = mariadb_cluster.table_checksums(primary)
    request = make_request(
        primary, location=location, engine="logical", databases=["commerce"],
        **_options(zstd, enc, backup_key),
    )

    report = run_backup(request, lambda _p: None)
    commit(request, report)

    assert report.engine == "logical" and report.key.split("/")[-1].startswith("backup.sql")
    assert report.binlog.file and report.binlog.position and report.binlog.gtid
    assert report.server_version and report.engine_version
    manifest = resolve_backup(location, request.cluster, "commerce", "-", request.backup_id)
    _check_stream_info(manifest.stream, zstd, enc)
    assert manifest.stream is not None and manifest.stream.databases == ("commerce",)
    with scratch_server.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS commerce")
    target = Instance(name="scratch", role=Role.PRIMARY, socket=str(scratch_server.socket))
    credentials = DatabaseCredentials(
        user=mariadb_cluster.user, password=CredentialRef(env=PASSWORD_ENV)
    )

    done = restore_logical(
        location, manifest, target, credentials, backup_key if enc else None
    )

    assert done.sha256 == manifest.sha256
    assert scratch_server.checksums("commerce") == expected
