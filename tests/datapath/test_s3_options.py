"""S3 object options from the YAML ``S3Spec`` against the real SeaweedFS.

SeaweedFS (4.x) stores and echoes ``x-amz-server-side-encryption: AES256`` and
``x-amz-storage-class`` (head_object shows both, on PutObject and multipart objects alike),
refuses an unknown storage class with ``InvalidStorageClass``, answers SSE-KMS (it has no KMS
configured) with ``InternalError``, and verifies SigV2 (``s3``) signatures as well as SigV4.
"""

from __future__ import annotations

from typing import Any

import pytest
from dp_support import ACCESS_ENV, SECRET_ENV, RequestFactory

from shardkeeper.contracts.common import S3Location
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.backup.run import run_backup
from shardkeeper.datapath.stores.s3 import S3Store
from shardkeeper.datapath.stores.s3_client import make_client
from shardkeeper.errors import AccessDenied, ShardkeeperError
from shardkeeper.spec.convert import s3_location
from shardkeeper.spec.destination import S3Spec


@pytest.fixture(autouse=True)
def _credentials(s3_location: S3Location) -> None:
    """The conftest location sets the credential variables the YAML references."""


def _from_yaml(seaweed: SeaweedFS, bucket: str, **options: Any) -> S3Location:
    """The location exactly as a BackupSchedule's ``destination.s3`` maps it."""
    return s3_location(S3Spec.model_validate({
        "bucket": bucket, "prefix": "backups", "endpoint": seaweed.endpoint,
        "forcePathStyle": True,
        "credentials": {"accessKeyId": {"env": ACCESS_ENV},
                        "secretAccessKey": {"env": SECRET_ENV}},
        **options,
    }))


def _head(seaweed: SeaweedFS, bucket: str, key: str) -> tuple[Any, Any]:
    head = seaweed.client().head_object(Bucket=bucket, Key=key)
    return head.get("ServerSideEncryption"), head.get("StorageClass")


def test_backup_stream_and_small_objects_carry_sse_s3_and_the_storage_class(
    make_request: RequestFactory, mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS,
    s3_bucket: str,
) -> None:
    where = _from_yaml(seaweed, s3_bucket, serverSideEncryption="AES256",
                       storageClass="STANDARD_IA")
    replica = mariadb_cluster.replicas("commerce", "-")[0]
    report = run_backup(make_request(replica, location=where), lambda _p: None)
    assert _head(seaweed, s3_bucket, report.key) == ("AES256", "STANDARD_IA")
    # PutObject (metadata.json, markers) goes through the same options
    S3Store(where).put_bytes("backups/probe.json", b"{}", "application/json")
    assert _head(seaweed, s3_bucket, "backups/probe.json") == ("AES256", "STANDARD_IA")


def test_without_options_the_objects_take_the_bucket_defaults(
    seaweed: SeaweedFS, s3_bucket: str,
) -> None:
    S3Store(_from_yaml(seaweed, s3_bucket)).put_bytes("backups/plain", b"x", "text/plain")
    assert _head(seaweed, s3_bucket, "backups/plain") == (None, None)


def test_signature_v2_is_really_used_and_checked(
    seaweed: SeaweedFS, s3_bucket: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    where = _from_yaml(seaweed, s3_bucket, signatureVersion="v2")
    assert make_client(where).meta.config.signature_version == "s3"
    assert make_client(_from_yaml(seaweed, s3_bucket)).meta.config.signature_version != "s3"
    store = S3Store(where)
    store.put_bytes("backups/v2", b"signed with v2", "text/plain")
    assert store.read_bytes("backups/v2") == b"signed with v2"
    monkeypatch.setenv(SECRET_ENV, "not-the-secret")
    with pytest.raises(AccessDenied, match="SignatureDoesNotMatch"):
        S3Store(where).put_bytes("backups/v2-bad", b"x", "text/plain")


def test_sse_kms_on_a_store_without_kms_fails_naming_the_setting(
    make_request: RequestFactory, mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS,
    s3_bucket: str,
) -> None:
    where = _from_yaml(seaweed, s3_bucket, serverSideEncryption="aws:kms",
                       sseKmsKeyId="alias/shardkeeper-backups")
    asked = "server-side encryption 'aws:kms' with key 'alias/shardkeeper-backups'"
    with pytest.raises(ShardkeeperError) as small:
        S3Store(where).put_bytes("backups/kms.json", b"{}", "application/json")
    assert asked in str(small.value) and "InternalError on PutObject" in str(small.value)
    assert "spec.destination.s3.serverSideEncryption" in str(small.value)
    replica = mariadb_cluster.replicas("commerce", "-")[0]
    with pytest.raises(ShardkeeperError) as stream:
        run_backup(make_request(replica, location=where), lambda _p: None)
    # SeaweedFS accepts CreateMultipartUpload and fails the first UploadPart
    assert asked in str(stream.value) and "InternalError on UploadPart" in str(stream.value)
    assert seaweed.client().list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
