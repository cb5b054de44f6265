"""S3 multipart uploads: part-size planning, parallel parts, completion and abort.

This module owns the multipart protocol for one object: when the upload is created, how
parts are sent (in parallel, completed in part-number order), how it is completed and how
it is aborted, plus the sweep of open uploads left by earlier attempts. It does not read
the engine, hash, or decide whether a backup is good; the caller decides between
:meth:`MultipartUpload.complete` and :meth:`MultipartUpload.abort`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

import structlog

from shardkeeper.contracts.common import S3Location
from shardkeeper.datapath.stores.protocol import PartLedger, UploadedPart
from shardkeeper.datapath.stores.s3_client import S3Client, location_error
from shardkeeper.errors import PermanentError, ShardkeeperError

log = structlog.get_logger(__name__)

MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40
MIN_PART_BYTES = 5 * MiB
MAX_PART_BYTES = 5 * GiB
MAX_PARTS = 10_000
TARGET_OBJECT_BYTES = 5 * TiB
# 8 MiB like aws-cli: (max_parts_in_flight + 1) buffers of it are the agent's data memory.
DEFAULT_PART_BYTES = 8 * MiB
# Parts per size step before the part size doubles. Six doublings of 900 parts (the first
# step longer, below), then a top size so the ladder reaches TARGET_OBJECT_BYTES in MAX_PARTS:
# 8 MiB parts carry the first 10 GiB; the top size is ~1.1 GiB for the 8 MiB default.
PARTS_PER_STEP = 900
DOUBLINGS = 6
# The first step is longer: 1,280 parts of the initial size (10 GiB at 8 MiB), so most
# shards never leave it and the agent's memory is the same for a 1 GB and a 10 GB stream.
FIRST_STEP_PARTS = 1280


class PartPlan:
    """Part sizes that grow with the part number so an unknown-size stream fits in S3's limits.

    Small backups keep small parts (little memory); a stream that keeps going gets larger
    parts, so 10,000 parts always reach 5 TiB. Parts need not have equal sizes (only the
    5 MiB minimum matters and the last part may be smaller), but the sizes are recorded
    because composite checksums and ETags depend on part boundaries.
    """

    def __init__(self, initial_bytes: int = DEFAULT_PART_BYTES) -> None:
        """Plan parts starting at ``initial_bytes``.

        Raises:
            PermanentError: ``initial_bytes`` is outside S3's 5 MiB to 5 GiB range.
        """
        if not MIN_PART_BYTES <= initial_bytes <= MAX_PART_BYTES:
            raise PermanentError(
                f"part size {initial_bytes} bytes is outside S3's range "
                f"{MIN_PART_BYTES}..{MAX_PART_BYTES}"
            )
        self.initial_bytes = initial_bytes
        ladder = [min(initial_bytes << k, MAX_PART_BYTES) for k in range(DOUBLINGS)]
        below_top = ladder[0] * FIRST_STEP_PARTS + sum(
            size * PARTS_PER_STEP for size in ladder[1:]
        )
        top_parts = MAX_PARTS - FIRST_STEP_PARTS - PARTS_PER_STEP * (DOUBLINGS - 1)
        needed = -(-(TARGET_OBJECT_BYTES - below_top) // top_parts)  # ceiling division
        top = max(initial_bytes << DOUBLINGS, needed)
        top = -(-top // MiB) * MiB  # whole MiB, for readable metadata
        self._ladder = [*ladder, min(top, MAX_PART_BYTES)]

    def size_of(self, part_number: int) -> int:
        """Size in bytes of part ``part_number`` (1-based)."""
        if part_number <= FIRST_STEP_PARTS:
            return self._ladder[0]
        step = 1 + (part_number - FIRST_STEP_PARTS - 1) // PARTS_PER_STEP
        return self._ladder[min(step, DOUBLINGS)]

    @property
    def max_object_bytes(self) -> int:
        """The largest stream this plan can store in MAX_PARTS parts."""
        return sum(self.size_of(n) for n in range(1, MAX_PARTS + 1))


class MultipartUpload(PartLedger):
    """One multipart upload of one key, with at most ``max_in_flight`` parts being sent.

    The upload is created lazily with the first part, so a run that fails before producing
    a whole part leaves nothing at all in the bucket. Thread-safe for ``submit`` from one
    producer thread while parts finish on the pool's threads.
    """

    def __init__(
        self, client: S3Client, location: S3Location, key: str, *, max_in_flight: int
    ) -> None:
        """Prepare an upload of ``key`` into ``location.bucket``."""
        if max_in_flight < 1:
            raise PermanentError(f"max_parts_in_flight must be at least 1, got {max_in_flight}")
        self._client = client
        self._location = location
        self.key = key
        self.upload_id: str | None = None
        self._create_sent = False
        self._pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix="sk-part")
        super().__init__()
        self._futures: list[Future[UploadedPart]] = []

    def submit(
        self, number: int, body: bytearray, on_done: Callable[[], None]
    ) -> None:
        """Send part ``number`` in the background; ``on_done`` runs when it finished either way.

        ``body`` must not change until ``on_done`` ran. It is passed to botocore as is
        (a ``bytearray`` is a valid body), so no copy of the part is made.

        Raises:
            ShardkeeperError: Creating the upload failed, or an earlier part failed.
        """
        self.raise_if_failed()
        if self.upload_id is None:
            self._create()
        future = self._pool.submit(self._send, number, body)
        future.add_done_callback(lambda f: self._finished(f, on_done))
        self._futures.append(future)

    def _create(self) -> None:
        # Set before the call: a SIGTERM (Terminated) can land while the response is read,
        # after S3 created the upload but before its id is known here; abort then sweeps it.
        self._create_sent = True
        try:
            response = self._client.create_multipart_upload(
                Bucket=self._location.bucket,
                Key=self.key,
                ContentType="application/octet-stream",
                **object_options(self._location),
            )
        except Exception as exc:
            raise location_error(self._location, exc, self.key) from exc
        self.upload_id = response["UploadId"]
        log.info("multipart.created", bucket=self._location.bucket, key=self.key)

    def _send(self, number: int, body: bytearray) -> UploadedPart:
        if self.upload_id is None:  # pragma: no cover - _create ran first
            raise RuntimeError("upload not created")
        response = self._client.upload_part(
            Bucket=self._location.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            # botocore accepts a bytearray body as is (the stubs say bytes): no copy.
            Body=body,  # type: ignore[arg-type]
        )
        return UploadedPart(number=number, etag=response["ETag"], size=len(body))

    def raise_if_failed(self) -> None:
        """Raise the classified error of the first failed part, if any."""
        if self.error is not None:
            raise location_error(self._location, self.error, self.key) from self.error

    def wait(self) -> list[UploadedPart]:
        """Wait for every submitted part; return them in part-number order.

        Raises:
            ShardkeeperError: A part failed.
        """
        for future in list(self._futures):
            if not future.cancelled():
                future.exception()  # waits; the error itself is recorded by _finished
        self.raise_if_failed()
        return self._parts_in_order()

    def complete(self) -> list[UploadedPart]:
        """Wait for the parts and complete the upload (parts in ascending order).

        Raises:
            ShardkeeperError: A part failed or S3 refused the completion.
        """
        parts = self.wait()
        if self.upload_id is None or not parts:
            raise PermanentError(f"nothing was uploaded to {self.key!r}")
        try:
            self._client.complete_multipart_upload(
                Bucket=self._location.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": p.number, "ETag": p.etag} for p in parts]
                },
            )
        except Exception as exc:
            raise location_error(self._location, exc, self.key) from exc
        finally:
            self._pool.shutdown(wait=False)
        log.info("multipart.completed", key=self.key, parts=len(parts))
        return parts

    def abort(self) -> None:
        """Stop sending, wait for parts already on the wire, then abort the upload.

        Waiting first matters: a part that lands after AbortMultipartUpload can leave
        storage behind. Errors are logged, not raised, because abort runs on failure paths;
        pruning sweeps any upload that survives.
        """
        for future in self._futures:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.upload_id is None:
            if self._create_sent:  # created, id lost mid-response: the key is this run's own
                try:
                    abort_open_uploads(self._client, self._location, self.key, exact_key=True)
                except ShardkeeperError as exc:
                    log.error("multipart.abort_failed", key=self.key, error=str(exc))
            return
        try:
            self._client.abort_multipart_upload(
                Bucket=self._location.bucket, Key=self.key, UploadId=self.upload_id
            )
            log.info("multipart.aborted", key=self.key)
        except Exception as exc:
            log.error(
                "multipart.abort_failed",
                key=self.key,
                error=str(location_error(self._location, exc, self.key)),
            )
        finally:
            self.upload_id = None


def object_options(location: S3Location) -> dict[str, Any]:
    """Storage class and server-side encryption arguments for every object written."""
    options: dict[str, Any] = {}
    if location.storage_class:
        options["StorageClass"] = location.storage_class
    if location.sse:
        options["ServerSideEncryption"] = location.sse
        if location.sse_kms_key_id:
            options["SSEKMSKeyId"] = location.sse_kms_key_id
    return options


def abort_open_uploads(
    client: S3Client,
    location: S3Location,
    prefix: str,
    *,
    exact_key: bool = False,
    select: Callable[[str, datetime | None], bool] | None = None,
) -> int:
    """Abort open multipart uploads under ``prefix`` (or of exactly that key).

    Args:
        client: S3 client.
        location: Bucket and endpoint (for error messages).
        prefix: Key prefix to sweep, or the key itself with ``exact_key``.
        exact_key: Only uploads whose key equals ``prefix``.
        select: Only uploads for which ``select(key, initiated)`` is true.

    Returns:
        How many uploads were aborted.

    Raises:
        ShardkeeperError: Listing failed. A failed abort of one upload is logged instead.
    """
    aborted = 0
    kwargs: dict[str, str] = {"Bucket": location.bucket, "Prefix": prefix}
    try:
        while True:
            page = client.list_multipart_uploads(**kwargs)  # type: ignore[arg-type]
            for upload in page.get("Uploads", []):
                key, upload_id = upload.get("Key", ""), upload.get("UploadId", "")
                if exact_key and key != prefix:
                    continue
                if select is not None and not select(key, upload.get("Initiated")):
                    continue
                try:
                    client.abort_multipart_upload(
                        Bucket=location.bucket, Key=key, UploadId=upload_id
                    )
                    aborted += 1
                    log.info("multipart.orphan_aborted", key=key)
                except Exception as exc:
                    log.warning(
                        "multipart.orphan_abort_failed",
                        key=key,
                        error=str(location_error(location, exc, key)),
                    )
            if not page.get("IsTruncated"):
                return aborted
            kwargs["KeyMarker"] = page.get("NextKeyMarker", "")
            kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker", "")
    except Exception as exc:
        raise location_error(location, exc, prefix) from exc
