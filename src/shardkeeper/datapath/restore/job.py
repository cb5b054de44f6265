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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from shardkeeper.contracts.agent import (
    AgentProgress,
    AgentRestoreReport,
    AgentRestoreRequest,
    BinlogPosition,
)
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.datapath.progress import ProgressReporter
from shardkeeper.datapath.restore.logical import restore_logical
from shardkeeper.datapath.restore.physical import copy_back, stage_backup
from shardkeeper.datapath.restore.resolve import Progress, resolve_backup
from shardkeeper.errors import SpecInvalid

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Restored:
    """What one kind of restore did, for the report."""

    size_bytes: int
    sha256: str
    raw_size_bytes: int
    binlog: BinlogPosition
    download_seconds: float
    prepare_seconds: float | None = None
    apply_seconds: float | None = None
    staged_dir: str | None = None
    datadir: str | None = None


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
        request.source, request.cluster, request.keyspace, request.shard, request.backup_id,
        strategy=request.strategy, schedule=request.schedule,
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
    restore = _logical if fmt == "sql" else _physical
    done = restore(request, manifest, progress)
    return AgentRestoreReport(
        backup_id=manifest.backup_id,
        engine=manifest.engine,
        object_key=manifest.object_key,
        size_bytes=done.size_bytes,
        sha256=done.sha256,
        raw_size_bytes=done.raw_size_bytes,
        binlog=done.binlog,
        staged_dir=done.staged_dir,
        datadir=done.datadir,
        download_seconds=round(done.download_seconds, 3),
        prepare_seconds=(
            round(done.prepare_seconds, 3) if done.prepare_seconds is not None else None
        ),
        apply_seconds=round(done.apply_seconds, 3) if done.apply_seconds is not None else None,
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )


def _logical(
    request: AgentRestoreRequest, manifest: BackupManifest, progress: Progress
) -> _Restored:
    """Verify the dump, then apply it to ``request.instance``."""
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
    return _Restored(
        size_bytes=done.size_bytes,
        sha256=done.sha256,
        raw_size_bytes=done.raw_size_bytes,
        binlog=done.binlog,
        download_seconds=done.download_seconds,
        apply_seconds=done.apply_seconds,
    )


def _physical(
    request: AgentRestoreRequest, manifest: BackupManifest, progress: Progress
) -> _Restored:
    """Stage the backup next to the datadir (or in ``staging_dir``), then copy it back."""
    if request.datadir is None and request.mode == "full":
        raise SpecInvalid(f"backup {manifest.backup_id} is physical: the request needs datadir")
    staging_root = Path(
        request.staging_dir or Path(request.datadir or ".").resolve().parent
    )
    staged = stage_backup(
        request.source,
        manifest,
        staging_root / f"shardkeeper-staged-{manifest.backup_id}",
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
        apply_seconds = time.monotonic() - clock
        datadir = str(copied.datadir)
    keep = request.mode == "stage" or request.keep_staged
    return _Restored(
        size_bytes=staged.size_bytes,
        sha256=staged.sha256,
        raw_size_bytes=staged.raw_size_bytes,
        binlog=staged.binlog,
        download_seconds=staged.download_seconds,
        prepare_seconds=staged.prepare_seconds,
        apply_seconds=apply_seconds,
        staged_dir=str(staged.staged_dir) if keep else None,
        datadir=datadir,
    )
