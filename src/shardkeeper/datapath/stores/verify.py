"""Re-read a stored object and hash it: the verification step before a backup is committed.

This module owns the streaming read of one object and its SHA-256, on any destination (S3
or a filesystem). Memory stays bounded (one read buffer) whatever the object's size. The
ETag is never used as a checksum: for a multipart upload it is an opaque value of the
server's choosing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from shardkeeper.contracts.common import Destination
from shardkeeper.datapath.stores.destination import open_store
from shardkeeper.errors import ChecksumMismatch

READ_CHUNK_BYTES = 8 << 20


def object_digest(
    location: Destination,
    key: str,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[str, int]:
    """Read ``key`` as a stream and return ``(sha256 hex, size in bytes)``.

    Args:
        location: Bucket or directory, endpoint and credential references.
        key: Object key.
        on_progress: Called with the bytes read so far, after every chunk (cheap; the caller
            throttles if it forwards them).

    Raises:
        BackupNotFound: The object does not exist.
        AccessDenied, BucketMissing, EndpointUnavailable: The store failed.
    """
    reader = open_store(location).open_read(key)
    sha = hashlib.sha256()
    size = 0
    try:
        # hashlib releases the GIL for buffers this large.
        for chunk in reader.chunks(READ_CHUNK_BYTES):
            sha.update(chunk)
            size += len(chunk)
            if on_progress is not None:
                on_progress(size)
    finally:
        reader.close()
    return sha.hexdigest(), size


def verify_object(
    location: Destination,
    key: str,
    expected_sha256: str,
    expected_size_bytes: int,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[str, int]:
    """:func:`object_digest`, raising when it differs from what was streamed.

    Raises:
        ChecksumMismatch: With both digests and sizes.
        BackupNotFound, AccessDenied, BucketMissing, EndpointUnavailable: As above.
    """
    digest, size = object_digest(location, key, on_progress)
    if digest != expected_sha256 or size != expected_size_bytes:
        raise ChecksumMismatch(
            f"{key}: stored object has sha256 {digest} and {size} bytes; expected sha256 "
            f"{expected_sha256} and {expected_size_bytes} bytes"
        )
    return digest, size
