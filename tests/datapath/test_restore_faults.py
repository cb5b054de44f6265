"""Backups that must not be restored: each refused with a clear error, nothing in the target.

A flipped byte, a truncated object, a missing metadata.json, an unknown backup id and a
wrong encryption key, on real stores (SeaweedFS and a directory) with real backups.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from dp_support import PASSWORD_ENV, RequestFactory, ScriptRequest, commit
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
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.backup.run import run_backup
from shardkeeper.datapath.restore.logical import restore_logical
from shardkeeper.datapath.restore.physical import stage_backup
from shardkeeper.datapath.restore.resolve import resolve_backup
from shardkeeper.errors import AccessDenied, BackupIncomplete, BackupNotFound, ChecksumMismatch

MiB = 1 << 20


def _nothing_staged(parent: Path) -> None:
    leftovers = [p.name for p in parent.iterdir()] if parent.exists() else []
    assert leftovers == [], f"staging left {leftovers}"


def test_flipped_byte_in_s3_is_refused_before_anything_is_staged(
    make_request: RequestFactory,
    mariadb_cluster: MariaDBCluster,
    s3_location: S3Location,
    seaweed: SeaweedFS,
    tmp_path: Path,
) -> None:
    request = make_request(mariadb_cluster.primary("commerce", "-"), location=s3_location)
    manifest = commit(request, run_backup(request, lambda _p: None))
    client = seaweed.client()
    body = bytearray(client.get_object(Bucket=s3_location.bucket, Key=manifest.object_key)[
        "Body"
    ].read())
    body[len(body) // 2] ^= 0x01
    client.put_object(Bucket=s3_location.bucket, Key=manifest.object_key, Body=bytes(body))
    target = tmp_path / "stage" / "staged"

    with pytest.raises(ChecksumMismatch) as caught:
        stage_backup(s3_location, manifest, target)

    assert manifest.sha256 in str(caught.value)  # both digests are named
    assert str(caught.value).count("sha256") == 2
    _nothing_staged(target.parent)


def test_truncated_compressed_file_is_refused(
    make_request: RequestFactory,
    mariadb_cluster: MariaDBCluster,
    fs_location: FilesystemLocation,
    tmp_path: Path,
) -> None:
    request = make_request(
        mariadb_cluster.primary("commerce", "-"),
        location=fs_location,
        compression=CompressionSpec(),
    )
    manifest = commit(request, run_backup(request, lambda _p: None))
    stored = Path(fs_location.path) / manifest.object_key
    with stored.open("r+b") as handle:
        handle.truncate(manifest.size_bytes - 1000)
    target = tmp_path / "stage" / "staged"

    with pytest.raises(ChecksumMismatch, match=f"{manifest.size_bytes} bytes"):
        stage_backup(fs_location, manifest, target)

    _nothing_staged(target.parent)


def test_missing_metadata_and_unknown_ids_are_named(
    script_request: ScriptRequest, s3_location: S3Location
) -> None:
    with pytest.raises(BackupNotFound, match="no backups under"):
        resolve_backup(s3_location, "demo", "ks", "-")

    uncommitted, _engine = script_request(stream_bytes=1 * MiB)
    run_backup(uncommitted, lambda _p: None)  # stream stored, metadata.json never written
    with pytest.raises(BackupIncomplete, match=r"no metadata\.json"):
        resolve_backup(s3_location, "demo", "ks", "-")
    with pytest.raises(BackupIncomplete, match=uncommitted.backup_id):
        resolve_backup(s3_location, "demo", "ks", "-", uncommitted.backup_id)

    committed, _engine = script_request(stream_bytes=1 * MiB)
    commit(committed, run_backup(committed, lambda _p: None))
    with pytest.raises(BackupNotFound, match=f"available: {committed.backup_id}"):
        resolve_backup(s3_location, "demo", "ks", "-", "20990101T000000Z")
    # The committed one is the latest complete backup, whatever sorts after it.
    assert resolve_backup(s3_location, "demo", "ks", "-").backup_id == committed.backup_id


def test_wrong_key_is_refused_before_download(
    make_request: RequestFactory,
    mariadb_cluster: MariaDBCluster,
    fs_location: FilesystemLocation,
    backup_key: CredentialRef,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    request = make_request(
        mariadb_cluster.primary("commerce", "-"),
        location=fs_location,
        encryption=EncryptionSpec(key=backup_key),
    )
    manifest = commit(request, run_backup(request, lambda _p: None))
    monkeypatch.setenv("SK_TEST_OTHER_KEY", base64.b64encode(os.urandom(32)).decode())
    target = tmp_path / "stage" / "staged"

    with pytest.raises(AccessDenied, match="wrong encryption key") as caught:
        stage_backup(fs_location, manifest, target, CredentialRef(env="SK_TEST_OTHER_KEY"))
    assert manifest.stream is not None and manifest.stream.encryption is not None
    assert manifest.stream.encryption.key_id in str(caught.value)
    with pytest.raises(Exception, match="is encrypted"):
        stage_backup(fs_location, manifest, target, None)
    _nothing_staged(target.parent)


def test_corrupt_encrypted_dump_writes_nothing_into_the_server(
    make_request: RequestFactory,
    mariadb_cluster: MariaDBCluster,
    fs_location: FilesystemLocation,
    backup_key: CredentialRef,
    scratch_server: RestoredServer,
) -> None:
    request = make_request(
        mariadb_cluster.primary("commerce", "-"),
        location=fs_location,
        engine="logical",
        databases=["commerce"],
        encryption=EncryptionSpec(key=backup_key, chunk_size_bytes=64 << 10),
        compression=CompressionSpec(),
    )
    manifest = commit(request, run_backup(request, lambda _p: None))
    stored = Path(fs_location.path) / manifest.object_key
    data = bytearray(stored.read_bytes())
    data[-100] ^= 0x80  # late in the stream: earlier chunks would decrypt fine
    stored.write_bytes(bytes(data))
    with scratch_server.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS commerce")
    target = Instance(name="scratch", role=Role.PRIMARY, socket=str(scratch_server.socket))
    credentials = DatabaseCredentials(
        user=mariadb_cluster.user, password=CredentialRef(env=PASSWORD_ENV)
    )

    with pytest.raises(ChecksumMismatch):
        restore_logical(fs_location, manifest, target, credentials, backup_key)

    with scratch_server.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE 'commerce'")
        assert cur.fetchall() == ()
