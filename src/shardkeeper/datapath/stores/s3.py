"""The S3-compatible destination: the store protocol over boto3.

This module adapts the S3 client (``s3_client.py``) and the multipart protocol (``multipart.py``)
to the store interface. Incomplete multipart uploads are invisible to listings, as S3 makes
them; storage class and server-side encryption apply to every object written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from shardkeeper.contracts.common import S3Location
from shardkeeper.datapath.stores.multipart import (
    MultipartUpload,
    abort_open_uploads,
    object_options,
)
from shardkeeper.datapath.stores.protocol import UploadFilter
from shardkeeper.datapath.stores.s3_client import S3Client, describe, location_error, make_client
from shardkeeper.errors import BackupNotFound, EndpointUnavailable

# Set to 1 to sign part bodies (SigV4 payload hash) anyway, e.g. to measure what it costs.
SIGN_PAYLOAD_ENV = "SHARDKEEPER_S3_SIGN_PAYLOAD"


class S3ObjectReader:
    """A GetObject body read in large pieces (memory: one piece)."""

    def __init__(self, body: Any, size: int, location: S3Location, key: str) -> None:
        """Wrap a botocore streaming body of ``size`` bytes."""
        self._body = body
        self.size = size
        self._location = location
        self._key = key

    def chunks(self, chunk_bytes: int) -> Iterator[bytes]:
        """The object's bytes; connection failures are classified."""
        try:
            # iter_chunks reads straight from the socket; hashlib releases the GIL on
            # pieces this large.
            yield from self._body.iter_chunks(chunk_bytes)
        except Exception as exc:
            raise location_error(self._location, exc, self._key) from exc

    def close(self) -> None:
        """Close the HTTP body."""
        self._body.close()


class S3Store:
    """A bucket and prefix of an S3-compatible service."""

    def __init__(self, location: S3Location) -> None:
        """Build the clients (credentials are resolved here)."""
        self.location = location
        sign = os.environ.get(SIGN_PAYLOAD_ENV, "") == "1"
        # Parts are hashed once, by the pump, and verified by re-reading: the SigV4 payload
        # hash would be a second full pass over every byte on a CPU-bound box. One client
        # for everything: each costs ~12 MB of service model in the agent's memory.
        self.client: S3Client = make_client(location, sign_payload=sign)
        self.data_client = self.client

    def describe(self) -> str:
        """``s3://bucket/prefix at <endpoint>``."""
        return describe(self.location)

    def exists(self, key: str) -> bool:
        """HeadObject; False on 404."""
        try:
            self.client.head_object(Bucket=self.location.bucket, Key=key)
        except Exception as exc:
            error = location_error(self.location, exc, key)
            if isinstance(error, BackupNotFound):
                return False
            raise error from exc
        return True

    def start_upload(self, key: str, *, max_in_flight: int) -> MultipartUpload:
        """A lazily created multipart upload of ``key``."""
        return MultipartUpload(self.data_client, self.location, key, max_in_flight=max_in_flight)

    def abort_uploads(
        self, prefix: str, *, exact_key: bool = False, select: UploadFilter | None = None
    ) -> int:
        """AbortMultipartUpload for every open upload under ``prefix`` that matches."""
        return abort_open_uploads(
            self.client, self.location, prefix, exact_key=exact_key, select=select
        )

    def iter_objects(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """ListObjectsV2, every page."""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    yield obj["Key"], obj["LastModified"]
        except Exception as exc:
            raise location_error(self.location, exc, prefix) from exc

    def read_bytes(self, key: str) -> bytes:
        """GetObject, whole body."""
        try:
            body: bytes = self.client.get_object(Bucket=self.location.bucket, Key=key)[
                "Body"
            ].read()
        except Exception as exc:
            raise location_error(self.location, exc, key) from exc
        return body

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None:
        """PutObject (atomic in S3)."""
        try:
            self.client.put_object(
                Bucket=self.location.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                **object_options(self.location),
            )
        except Exception as exc:
            raise location_error(self.location, exc, key) from exc

    def delete(self, key: str) -> None:
        """DeleteObject."""
        try:
            self.client.delete_object(Bucket=self.location.bucket, Key=key)
        except Exception as exc:
            raise location_error(self.location, exc, key) from exc

    def open_read(self, key: str) -> S3ObjectReader:
        """GetObject as a stream."""
        try:
            response = self.data_client.get_object(Bucket=self.location.bucket, Key=key)
        except Exception as exc:
            raise location_error(self.location, exc, key) from exc
        length = response.get("ContentLength")
        if length is None:  # a connection cut right after the status line (seen behind proxies)
            response["Body"].close()
            raise EndpointUnavailable(
                f"GetObject {key} in s3://{self.location.bucket} answered without a "
                "Content-Length: the connection was cut; nothing was read")
        return S3ObjectReader(response["Body"], int(length), self.location, key)
