"""verify_upload, write_manifest, prune_backups: the object-store side of a backup.

Verification re-reads the stored bytes and compares SHA-256 and size with what the agent
streamed; the ETag is never a checksum. metadata.json is written only after that.
"""

from __future__ import annotations

import asyncio
import functools

from temporalio import activity

from shardkeeper.activities.heartbeat import Heartbeater
from shardkeeper.contracts import names
from shardkeeper.contracts.backup import (
    PruneBackupsInput,
    PruneBackupsResult,
    VerifyUploadInput,
    VerifyUploadResult,
    WriteManifestInput,
    WriteManifestResult,
)
from shardkeeper.contracts.base import Contract
from shardkeeper.datapath.stores import catalog, retention, verify
from shardkeeper.errors import ChecksumMismatch


class VerifyHeartbeat(Contract):
    """Heartbeat details of ``verify_upload``."""

    key: str
    bytes_read: int = 0


@activity.defn(name=names.VERIFY_UPLOAD)
async def verify_upload(inp: VerifyUploadInput) -> VerifyUploadResult:
    """Re-read the stored object; fail permanently when it does not match."""
    progress = VerifyHeartbeat(key=inp.key)

    def on_progress(n: int) -> None:
        nonlocal progress
        progress = VerifyHeartbeat(key=inp.key, bytes_read=n)

    async with Heartbeater(lambda: progress):
        digest, size = await asyncio.to_thread(
            verify.object_digest, inp.destination, inp.key, on_progress
        )
    if digest != inp.expected_sha256 or size != inp.expected_size_bytes:
        raise ChecksumMismatch(
            f"{inp.key}: stored object has sha256 {digest} and {size} bytes; the agent "
            f"streamed sha256 {inp.expected_sha256} and {inp.expected_size_bytes} bytes"
        )
    return VerifyUploadResult(sha256=digest, size_bytes=size)


@activity.defn(name=names.WRITE_MANIFEST)
async def write_manifest(inp: WriteManifestInput) -> WriteManifestResult:
    """Write metadata.json, the commit record (idempotent: same content, same key)."""
    key = await asyncio.to_thread(catalog.put_manifest, inp.destination, inp.manifest)
    return WriteManifestResult(key=key)


@activity.defn(name=names.PRUNE_BACKUPS)
async def prune_backups(inp: PruneBackupsInput) -> PruneBackupsResult:
    """Apply one (schedule, strategy)'s retention to its own backups of one shard.

    Other schedules' and manual backups are never deleted, nor other schedules' uploads
    aborted; the newest own committed backup is never deleted.
    """
    async with Heartbeater(lambda: None):
        deleted, aborted = await asyncio.to_thread(
            functools.partial(
                retention.prune_backups,
                inp.destination,
                inp.cluster,
                inp.keyspace,
                inp.shard,
                inp.retention.keep_last,
                inp.retention.retention_days,
                inp.now,
                schedule=inp.schedule,
                strategy=inp.strategy,
                job_timeout_seconds=inp.job_timeout_seconds,
            )
        )
    return PruneBackupsResult(deleted=tuple(deleted), aborted_uploads=aborted)
