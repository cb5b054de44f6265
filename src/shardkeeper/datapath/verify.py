"""Re-read a stored object and hash it: the verification step before a backup is committed.

This module owns the streaming read of one object and its SHA-256. Memory stays bounded
(one read buffer) whatever the object's size. The ETag is never used as a checksum: for a
multipart upload it is an opaque value of the server's choosing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from shardkeeper.contracts.common import S3Location
from shardkeeper.datapath.s3 import location_error, make_client

READ_CHUNK_BYTES = 8 << 20


def object_digest(
    location: S3Location,
    key: str,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[str, int]:
    """Download ``key`` as a stream and return ``(sha256 hex, size in bytes)``.

    Args:
        location: Bucket, endpoint and credential references.
        key: Object key.
        on_progress: Called with the bytes read so far, after every chunk (cheap; the caller
            throttles if it forwards them).

    Raises:
        BackupNotFound: The object does not exist.
        AccessDenied, BucketMissing, EndpointUnavailable: The object store failed.
    """
    client = make_client(location)
    sha = hashlib.sha256()
    size = 0
    try:
        body = client.get_object(Bucket=location.bucket, Key=key)["Body"]
        try:
            # iter_chunks reads straight from the socket in chunk-sized pieces; hashlib
            # releases the GIL for buffers this large.
            for chunk in body.iter_chunks(READ_CHUNK_BYTES):
                sha.update(chunk)
                size += len(chunk)
                if on_progress is not None:
                    on_progress(size)
        finally:
            body.close()
    except Exception as exc:
        raise location_error(location, exc, key) from exc
    return sha.hexdigest(), size
