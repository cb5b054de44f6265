"""Object-store failures are classified by code and name the endpoint, never the secret."""

from __future__ import annotations

import time

import botocore.exceptions
import pytest
from dp_support import SECRET_ENV

from shardkeeper.contracts.common import S3Location
from shardkeeper.control.stack.ports import free_port
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.stores import verify
from shardkeeper.datapath.stores.catalog import read_manifest
from shardkeeper.datapath.stores.s3_client import classify_client_error, make_client, preflight
from shardkeeper.errors import (
    AccessDenied,
    BackupNotFound,
    BucketMissing,
    EndpointUnavailable,
    PermanentError,
    ShardkeeperError,
    TemporaryError,
)


def test_preflight_accepts_good_settings(s3_location: S3Location) -> None:
    preflight(s3_location)


def test_wrong_secret_is_access_denied_and_never_echoed(
    s3_location: S3Location, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "not-the-secret-" + "x" * 20
    monkeypatch.setenv(SECRET_ENV, wrong)

    with pytest.raises(AccessDenied) as caught:
        preflight(s3_location)

    message = str(caught.value)
    assert "refused the credentials" in message
    assert s3_location.bucket in message and str(s3_location.endpoint) in message
    assert wrong not in message


def test_missing_bucket(s3_location: S3Location) -> None:
    missing = s3_location.model_copy(update={"bucket": "no-such-bucket-here"})
    with pytest.raises(BucketMissing, match="no-such-bucket-here"):
        preflight(missing)


def test_unreachable_endpoint_is_temporary_and_fast(s3_location: S3Location) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    nowhere = s3_location.model_copy(update={"endpoint": endpoint})
    started = time.monotonic()

    with pytest.raises(EndpointUnavailable) as caught:
        preflight(nowhere)

    assert endpoint in str(caught.value)
    assert caught.value.retryable
    assert time.monotonic() - started < 15


def test_missing_object_is_backup_not_found(s3_location: S3Location) -> None:
    with pytest.raises(BackupNotFound, match="nothing/here"):
        verify.object_digest(s3_location, "nothing/here")
    with pytest.raises(BackupNotFound):
        read_manifest(s3_location, "nothing/metadata.json")


def test_object_digest_streams_the_stored_bytes(
    s3_location: S3Location, seaweed: SeaweedFS
) -> None:
    import hashlib

    data = bytes(range(256)) * 40_000 + b"tail"
    seaweed.client().put_object(Bucket=s3_location.bucket, Key="k/obj", Body=data)
    seen: list[int] = []

    digest, size = verify.object_digest(s3_location, "k/obj", seen.append)

    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert seen[-1] == len(data)


def test_connection_errors_classify_without_a_server(s3_location: S3Location) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    client = make_client(
        s3_location.model_copy(update={"endpoint": endpoint}),
        max_attempts=1,
        connect_timeout_seconds=1,
    )
    with pytest.raises(Exception) as caught:
        client.head_bucket(Bucket="b")
    error = classify_client_error(caught.value, endpoint=endpoint, bucket="b")
    assert isinstance(error, EndpointUnavailable)
    assert endpoint in str(error)


def test_ca_bundle_in_the_environment_does_not_matter_for_http(
    s3_location: S3Location, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem")
    preflight(s3_location)


def _client_error(code: str, status: int, operation: str = "PutObject") -> Exception:
    # botocore's own exception, as a client raises it for this response (no client involved)
    response: dict = {  # type: ignore[type-arg]
        "Error": {"Code": code, "Message": "whatever the server says"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(response, operation)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "operation", "expected"),
    [
        ("AccessDenied", 403, "PutObject", AccessDenied),
        ("InvalidAccessKeyId", 403, "PutObject", AccessDenied),
        ("SignatureDoesNotMatch", 403, "PutObject", AccessDenied),
        ("NoSuchBucket", 404, "PutObject", BucketMissing),
        ("404", 404, "HeadBucket", BucketMissing),
        ("NoSuchKey", 404, "GetObject", BackupNotFound),
        ("SlowDown", 503, "PutObject", EndpointUnavailable),
        ("RequestTimeout", 400, "UploadPart", EndpointUnavailable),
        ("TooManyRequests", 429, "PutObject", EndpointUnavailable),
        ("InvalidArgument", 400, "PutObject", PermanentError),
        ("InvalidStorageClass", 400, "PutObject", PermanentError),
        ("EntityTooLarge", 400, "UploadPart", PermanentError),
        ("MalformedXML", 400, "CompleteMultipartUpload", PermanentError),
    ],
)
def test_known_codes_classify_by_code(
    code: str, status: int, operation: str, expected: type[ShardkeeperError]
) -> None:
    error = classify_client_error(_client_error(code, status, operation), bucket="b")
    assert type(error) is expected
    assert error.retryable == issubclass(expected, TemporaryError)


@pytest.mark.parametrize(("code", "status"), [("SomethingNew", 400), ("Teapot", 418), ("", 409)])
def test_an_unknown_error_stays_retryable(code: str, status: int) -> None:
    error = classify_client_error(_client_error(code, status), bucket="b")
    assert isinstance(error, TemporaryError) and error.retryable
    assert "b" in str(error) and "whatever the server says" not in str(error)


def test_classification_reads_the_code_never_the_message() -> None:
    response = {
        "Error": {"Code": "SomethingNew", "Message": "Access Denied: no such bucket"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    err = botocore.exceptions.ClientError(response, "PutObject")  # type: ignore[arg-type]
    assert type(classify_client_error(err)) is TemporaryError
