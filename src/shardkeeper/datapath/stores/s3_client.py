"""S3 clients and the classification of object-store failures.

This module owns how shardkeeper talks to an S3-compatible store: client settings (endpoint,
addressing style, TLS, retries, the checksum settings S3-compatible servers need since
botocore 1.36), the translation of botocore failures into the error taxonomy, and the
pre-flight check ``shardkeeper apply`` runs. Classification looks at error *codes* and
exception *types*, never at message text, and messages name the endpoint and bucket but never
a credential.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import botocore.exceptions
from botocore.config import Config

from shardkeeper.contracts.common import S3Location
from shardkeeper.datapath.credentials import resolve
from shardkeeper.errors import (
    AccessDenied,
    BackupNotFound,
    BucketMissing,
    EndpointUnavailable,
    PermanentError,
    ShardkeeperError,
    TemporaryError,
)

if TYPE_CHECKING:  # the stubs are a dev dependency; the runtime never needs them
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

__all__ = [
    "S3Client",
    "classify_client_error",
    "describe",
    "make_client",
    "preflight",
]

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
DEFAULT_READ_TIMEOUT_SECONDS = 120.0
# Parallel part uploads plus the occasional list/abort share one client's pool.
_MAX_POOL_CONNECTIONS = 16

_ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "Forbidden",
        "403",
    }
)
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_UNAVAILABLE_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "RequestTimeTooSkewed",  # also caused by queued/retried signed requests, not only clocks
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "OperationAborted",
    }
)
# Codes that say the request itself is wrong: sending it again is refused again. Only these
# (and the access, bucket and not-found codes above) are permanent; a code not listed anywhere
# is temporary, since an unknown error must stay retryable.
_REJECTED_CODES = frozenset(
    {
        "BadDigest",
        "EntityTooLarge",
        "EntityTooSmall",
        "InvalidArgument",
        "InvalidBucketName",
        "InvalidDigest",
        "InvalidEncryptionAlgorithmError",
        "InvalidObjectState",
        "InvalidPart",
        "InvalidPartOrder",
        "InvalidRequest",
        "InvalidStorageClass",
        "KeyTooLongError",
        "KMS.DisabledException",
        "KMS.NotFoundException",
        "MalformedXML",
        "MethodNotAllowed",
        "MissingContentLength",
    }
)


def describe(location: S3Location) -> str:
    """Human-readable ``s3://bucket/prefix at <endpoint>`` (no credentials)."""
    where = location.endpoint or f"AWS S3 ({location.region})"
    prefix = location.prefix.strip("/")
    return f"s3://{location.bucket}/{prefix} at {where}" if prefix else (
        f"s3://{location.bucket} at {where}"
    )


def make_client(
    location: S3Location,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS,
    sign_payload: bool = True,
) -> S3Client:
    """Build a boto3 S3 client for ``location``.

    Args:
        location: Bucket, endpoint and credential references.
        max_attempts: Total attempts per request (botocore "standard" retry mode).
        connect_timeout_seconds: TCP/TLS connect timeout.
        read_timeout_seconds: Socket read timeout.
        sign_payload: False sends ``UNSIGNED-PAYLOAD`` instead of a SHA-256 of every body
            in the SigV4 signature. Without it botocore hashes each part a second time
            (always over plain HTTP, and over HTTPS when no checksum header is sent); the
            data path already hashes the whole stream and verifies it by re-reading.

    Returns:
        A client of its own boto3 session (sessions are not thread-safe; clients are).

    Raises:
        SpecInvalid: A credential reference cannot be resolved.
    """
    config = Config(
        region_name=location.region,
        # botocore >= 1.36 sends CRC checksums by default, which several S3-compatible
        # servers reject; our own SHA-256 is the integrity check that matters.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=connect_timeout_seconds,
        read_timeout=read_timeout_seconds,
        max_pool_connections=_MAX_POOL_CONNECTIONS,
        s3={
            "addressing_style": "path" if location.force_path_style else "auto",
            **({} if sign_payload else {"payload_signing_enabled": False}),
        },
    )
    if location.signature_version == "v2":
        # Only v2 is set explicitly: v4 stays botocore's own choice (endpoint rules).
        config = config.merge(Config(signature_version="s3"))
    if location.credentials is not None:
        session = boto3.session.Session(
            aws_access_key_id=resolve(location.credentials.access_key_id),
            aws_secret_access_key=resolve(location.credentials.secret_access_key),
        )
    else:
        session = boto3.session.Session()
    client: S3Client = session.client(
        "s3",
        endpoint_url=location.endpoint,
        config=config,
        verify=_verify_setting(location),
    )
    return client


def _verify_setting(location: S3Location) -> bool | str | None:
    if location.insecure_skip_verify:
        return False
    if location.ca_bundle:
        return location.ca_bundle
    if location.endpoint and location.endpoint.lower().startswith("http://"):
        # No TLS on this endpoint: make sure an AWS_CA_BUNDLE in the environment (set on
        # some machines) is never even looked at.
        return False
    return None  # botocore default: AWS_CA_BUNDLE or the bundled certifi store


def classify_client_error(
    exc: BaseException,
    *,
    endpoint: str | None = None,
    bucket: str | None = None,
    key: str | None = None,
) -> ShardkeeperError:
    """Map a botocore failure onto the error taxonomy, by error code and exception type.

    Args:
        exc: The exception raised by a client call.
        endpoint: Endpoint to name in the message (the exception rarely carries it).
        bucket: Bucket to name in the message.
        key: Object key to name in the message, if the call was about one object.

    Returns:
        The classified error; ``exc`` itself when it already is a ``ShardkeeperError``.
        Raise it ``from exc``.
    """
    if isinstance(exc, ShardkeeperError):
        return exc
    where = _where(endpoint, bucket)
    if isinstance(exc, botocore.exceptions.ClientError):
        return _classify_response(exc, where, bucket, key)
    if isinstance(
        exc,
        (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError),
    ):
        url = getattr(exc, "kwargs", {}).get("endpoint_url") or endpoint or "the S3 endpoint"
        return EndpointUnavailable(
            f"S3 endpoint {url} unreachable ({type(exc).__name__}) for {where}"
        )
    if isinstance(
        exc,
        (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError),
    ):
        return AccessDenied(f"no usable S3 credentials were found for {where}")
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return TemporaryError(f"S3 client failure ({type(exc).__name__}) for {where}")
    return TemporaryError(f"unexpected failure talking to {where}: {type(exc).__name__}")


def location_error(
    location: S3Location, exc: BaseException, key: str | None = None
) -> ShardkeeperError:
    """:func:`classify_client_error` with the endpoint and bucket of ``location``.

    A refused write that asked for server-side encryption or a storage class says so: a store
    without SSE-KMS answers with a bare error code (SeaweedFS: InternalError), which alone
    does not point at the setting to change.
    """
    err = classify_client_error(exc, endpoint=location.endpoint, bucket=location.bucket, key=key)
    asked = _object_options_asked(location)
    if (asked and isinstance(exc, botocore.exceptions.ClientError)
            and exc.operation_name in _WRITE_OPERATIONS):
        return type(err)(
            f"{err} (the write asked for {asked}: check that the store supports it, or change "
            "spec.destination.s3.serverSideEncryption / storageClass)"
        )
    return err


_WRITE_OPERATIONS = frozenset(
    {"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"}
)


def _object_options_asked(location: S3Location) -> str:
    asked = []
    if location.sse:
        key = f" with key {location.sse_kms_key_id!r}" if location.sse_kms_key_id else ""
        asked.append(f"server-side encryption {location.sse!r}{key}")
    if location.storage_class:
        asked.append(f"storage class {location.storage_class!r}")
    return " and ".join(asked)


def _where(endpoint: str | None, bucket: str | None) -> str:
    target = f"bucket {bucket!r}" if bucket else "the bucket"
    return f"{target} at {endpoint or 'the default AWS endpoint'}"


def _classify_response(
    exc: botocore.exceptions.ClientError, where: str, bucket: str | None, key: str | None
) -> ShardkeeperError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    operation = exc.operation_name
    if code in _ACCESS_DENIED_CODES or status == 403:
        return AccessDenied(
            f"S3 refused the credentials ({code or status}) on {operation} for {where}"
        )
    if code == "NoSuchBucket" or (operation == "HeadBucket" and status == 404):
        return BucketMissing(f"{where}: the bucket does not exist ({operation})")
    if code in _NOT_FOUND_CODES or status == 404:
        what = f"object {key!r}" if key else "the object"
        return BackupNotFound(f"{what} not found in {where} ({operation})")
    if code in _REJECTED_CODES:
        return PermanentError(f"S3 rejected {operation} on {where}: {code}")
    if code in _UNAVAILABLE_CODES or status >= 500 or status in (408, 429):
        return EndpointUnavailable(f"S3 at {where} is unavailable: {code or status} on {operation}")
    return TemporaryError(f"S3 failed {operation} on {where}: {code or status} (unknown error)")


def preflight(location: S3Location) -> None:
    """Check cheaply that the bucket is reachable and the credentials work.

    Runs HeadBucket and a one-key ListObjectsV2 on the prefix, with few retries, so that
    ``shardkeeper apply`` fails on bad object-store settings before it writes anything.

    Raises:
        SpecInvalid: A credential reference cannot be resolved.
        AccessDenied: The credentials were refused.
        BucketMissing: The bucket does not exist.
        EndpointUnavailable: The endpoint cannot be reached.
    """
    client = make_client(location, max_attempts=2, read_timeout_seconds=30.0)
    prefix = location.prefix.strip("/")
    try:
        client.head_bucket(Bucket=location.bucket)
        client.list_objects_v2(
            Bucket=location.bucket, Prefix=f"{prefix}/" if prefix else "", MaxKeys=1
        )
    except Exception as exc:
        raise classify_client_error(
            exc, endpoint=location.endpoint, bucket=location.bucket
        ) from exc
