"""The body of ``shardkeeper agent restore``: one request in, one restored shard out.

This module maps an :class:`AgentRestoreRequest` onto the restore functions: find the
backup (``latest`` or an id) in the store, then either stage and copy back a physical
backup into a datadir, or verify and apply a logical one to a server. Progress goes out as
AgentProgress lines (phases ``resolving``, ``downloading``, ``preparing``, ``copying-back``,
``applying``), with an ETA from the manifest's stored size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from shardkeeper.contracts.agent import AgentProgress, AgentRestoreReport, AgentRestoreRequest
from shardkeeper.datapath.progress import ProgressReporter
from shardkeeper.datapath.restore import copy_back, resolve_backup, stage_backup
from shardkeeper.datapath.restore_logical import restore_logical
from shardkeeper.errors import SpecInvalid

log = structlog.get_logger(__name__)


def run_restore(
    request: AgentRestoreRequest, on_progress: Callable[[AgentProgress], None]
) -> AgentRestoreReport:
    """Restore one shard backup as ``request`` says.

    Raises:
        SpecInvalid: The request lacks what its backup's kind needs (datadir, instance).
        BackupNotFound, BackupIncomplete, ChecksumMismatch, AccessDenied, EngineFailed:
            From the restore steps.
    """
    started_at = datetime.now(UTC)
    on_progress(AgentProgress(phase="resolving", at=started_at))
    manifest = resolve_backup(
        request.source, request.cluster, request.keyspace, request.shard, request.backup_id
    )
    log.info(
        "restore.resolved",
        backup_id=manifest.backup_id,
        engine=manifest.engine,
        size_bytes=manifest.size_bytes,
    )
    reporter = ProgressReporter(
        on_progress, "downloading", total_estimate=manifest.size_bytes, what="restore"
    )

    def progress(phase: str, stored: int, decoded: int) -> None:
        reporter.phase = phase
        reporter(stored, 0, 0.0, raw=None)

    fmt = manifest.stream.format if manifest.stream else "xbstream"
    if fmt == "sql":
        if request.instance is None or request.credentials is None:
            raise SpecInvalid(
                f"backup {manifest.backup_id} is logical: the request needs instance and "
                "credentials"
            )
        done = restore_logical(
            request.source,
            manifest,
            request.instance,
            request.credentials,
            request.encryption_key,
            progress,
            spool_dir=request.staging_dir,
        )
        return AgentRestoreReport(
            backup_id=manifest.backup_id,
            engine=manifest.engine,
            object_key=manifest.object_key,
            size_bytes=done.size_bytes,
            sha256=done.sha256,
            raw_size_bytes=done.raw_size_bytes,
            binlog=done.binlog,
            download_seconds=round(done.download_seconds, 3),
            apply_seconds=round(done.apply_seconds, 3),
            started_at=started_at,
            finished_at=datetime.now(UTC),
        )
    if request.datadir is None and request.mode == "full":
        raise SpecInvalid(f"backup {manifest.backup_id} is physical: the request needs datadir")
    staging_root = Path(
        request.staging_dir or Path(request.datadir or ".").resolve().parent
    )
    staged_dir = staging_root / f"shardkeeper-staged-{manifest.backup_id}"
    staged = stage_backup(
        request.source,
        manifest,
        staged_dir,
        request.encryption_key,
        progress,
        use_memory_bytes=request.use_memory_bytes,
    )
    apply_seconds = None
    datadir = None
    if request.mode == "full" and request.datadir is not None:
        progress("copying-back", staged.size_bytes, staged.raw_size_bytes)
        clock = time.monotonic()
        copied = copy_back(
            staged.staged_dir,
            request.datadir,
            allow_non_empty=request.allow_non_empty,
            move=not request.keep_staged,
            engine_name=manifest.engine,
        )
        apply_seconds = round(time.monotonic() - clock, 3)
        datadir = str(copied.datadir)
    return AgentRestoreReport(
        backup_id=manifest.backup_id,
        engine=manifest.engine,
        object_key=manifest.object_key,
        size_bytes=staged.size_bytes,
        sha256=staged.sha256,
        raw_size_bytes=staged.raw_size_bytes,
        binlog=staged.binlog,
        staged_dir=str(staged.staged_dir) if request.mode == "stage" or request.keep_staged
        else None,
        datadir=datadir,
        download_seconds=round(staged.download_seconds, 3),
        prepare_seconds=round(staged.prepare_seconds, 3),
        apply_seconds=apply_seconds,
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )
