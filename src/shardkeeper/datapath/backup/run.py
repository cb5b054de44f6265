"""One shard backup: engine → [zstd] → [AES-256-GCM] → SHA-256 → one stored object, or nothing.

This module owns the life of a backup attempt: refusing to touch a committed backup,
clearing a previous attempt's orphaned upload, running the engine with its secrets in a
private directory, stacking the optional compression and encryption on its stream, and
deciding between completing and aborting the upload. The upload is completed only when the
engine succeeded by its own rules (mariadb-backup: exit 0 *and* its success line); every
other ending (engine failure, store error, KeyboardInterrupt, SIGTERM turned into an
exception) aborts it. The destination is any :class:`~shardkeeper.datapath.stores.protocol.Store`
(S3 or a filesystem). It writes no metadata.json (the workflow commits after
verification) and never logs the stream or a secret.

The engine's bytes come from a :class:`~shardkeeper.datapath.backup.source.Source`: the
engine run here as a child process, or in the database pod's sidecar (``source.py`` picks
by the request). A stream that ends without a good verdict is aborted.
"""

from __future__ import annotations

import importlib.metadata
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from shardkeeper import naming
from shardkeeper.contracts.agent import (
    AgentBackupReport,
    AgentBackupRequest,
    AgentProgress,
    StreamInfo,
)
from shardkeeper.contracts.common import Role, S3Location
from shardkeeper.datapath.backup.estimate import estimate_raw_bytes
from shardkeeper.datapath.backup.replica import resume_sql_thread
from shardkeeper.datapath.backup.source import Source, check_source, open_source
from shardkeeper.datapath.backup.stream import Readable, StreamPump, StreamResult
from shardkeeper.datapath.codec import compression, encryption
from shardkeeper.datapath.engines import Engine, StreamObserver, get_engine
from shardkeeper.datapath.progress import ProgressReporter
from shardkeeper.datapath.stores.destination import open_store
from shardkeeper.datapath.stores.multipart import DEFAULT_PART_BYTES, PartPlan
from shardkeeper.datapath.stores.protocol import Store
from shardkeeper.errors import BackupExists

log = structlog.get_logger(__name__)


def agent_version() -> str | None:
    """Shardkeeper's installed version, for the manifest."""
    try:
        return importlib.metadata.version("shardkeeper")
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class _Attempt:
    """What the request settles before anything is opened."""

    engine: Engine
    plan: PartPlan
    key: bytes | None


@dataclass(frozen=True)
class _Streamed:
    """What went into the completed upload."""

    result: StreamResult
    parts: int
    raw_bytes: int
    seconds: float


def run_backup(
    request: AgentBackupRequest, on_progress: Callable[[AgentProgress], None]
) -> AgentBackupReport:
    """Stream one engine backup into ``request.destination`` / ``request.key``.

    Args:
        request: What to back up and where; credentials and keys are references.
        on_progress: Called about once a second with bytes streamed, parts uploaded, rate
            and, when the source's size is known, an ETA.

    Returns:
        The report of the completed object (stored size and SHA-256, raw size, parts,
        versions, binlog position, compression and encryption parameters).

    Raises:
        BackupExists: metadata.json already exists for this backup (committed backups are
            immutable).
        SpecInvalid: Bad extra flags, part size, compression settings, encryption key or
            credential references.
        EngineUnsupported: The engine is unknown or not installed.
        EngineFailed: The engine failed; the message carries a bounded, redacted log tail.
        AccessDenied, BucketMissing, EndpointUnavailable: The store failed.
    """
    started_at = datetime.now(UTC)
    attempt = _settle(request)
    # The version probe and the size estimate cost a subprocess and a connection: run them
    # beside the stream instead of delaying its first byte.
    side = ThreadPoolExecutor(2, thread_name_prefix="sk-facts")
    # From a sidecar the engine runs there: its version comes from the stream it wrote.
    version = side.submit(attempt.engine.version if request.sidecar is None else _no_version)
    estimate = side.submit(estimate_raw_bytes, request)
    side.shutdown(wait=False)
    store = open_store(request.destination)
    _refuse_committed(store, request)
    store.abort_uploads(request.key, exact_key=True)
    _log_start(request, attempt, store)
    observer = attempt.engine.observer()
    try:
        streamed = _stream(request, attempt, store, observer, on_progress, estimate)
    except BaseException:
        if (request.source.role == Role.REPLICA and request.sidecar is None
                and request.engine == "mariabackup"):
            resume_sql_thread(request.source, request.credentials)  # see replica.py
        raise
    log.info(
        "backup.uploaded",
        key=request.key,
        size_bytes=streamed.result.size_bytes,
        raw_size_bytes=streamed.raw_bytes,
        parts=streamed.parts,
        part_sizes=_summarise(streamed.result.part_sizes),
        seconds=round(streamed.seconds, 2),
        mib_per_second=(
            round(streamed.raw_bytes / (1 << 20) / streamed.seconds, 1)
            if streamed.seconds else None
        ),
    )
    return _report(request, attempt, streamed, observer, version.result(), started_at)


def _settle(request: AgentBackupRequest) -> _Attempt:
    """Check the request's engine, part size, codecs and source; load the encryption key."""
    engine = get_engine(request.engine)
    plan = PartPlan(request.part_size_bytes or DEFAULT_PART_BYTES)
    if request.compression is not None:
        compression.check(request.compression)
    key = encryption.load_key(request.encryption.key) if request.encryption else None
    check_source(request, engine)
    return _Attempt(engine, plan, key)


def _log_start(request: AgentBackupRequest, attempt: _Attempt, store: Store) -> None:
    log.info(
        "backup.starting",
        cluster=request.cluster,
        keyspace=request.keyspace,
        shard=request.shard,
        backup_id=request.backup_id,
        source=request.source.name,
        sidecar=request.sidecar.url if request.sidecar else None,
        engine=attempt.engine.name,
        destination=store.describe(),
        key=request.key,
        part_size_bytes=attempt.plan.initial_bytes,
        compression=request.compression.model_dump() if request.compression else None,
        encryption_key_id=encryption.key_id(attempt.key) if attempt.key else None,
    )


def _stream(
    request: AgentBackupRequest,
    attempt: _Attempt,
    store: Store,
    observer: StreamObserver,
    on_progress: Callable[[AgentProgress], None],
    estimate: Future[int | None],
) -> _Streamed:
    """Pump the source through the codecs into one upload; complete it or abort it."""
    upload = store.start_upload(request.key, max_in_flight=request.max_parts_in_flight)
    reporter = ProgressReporter(on_progress, "streaming", what="backup")
    sources: list[Source] = []

    def progress(stored: int, parts: int, rate: float) -> None:
        if reporter.total_estimate is None and estimate.done():
            reporter.total_estimate = estimate.result()
        reporter(stored, parts, rate, raw=sources[0].bytes_read if sources else None)

    pump = StreamPump(
        upload, attempt.plan, max_in_flight=request.max_parts_in_flight, on_progress=progress
    )
    clock = time.monotonic()
    # mkdtemp creates the directory 0700: the defaults file with the password and the
    # engine's target dir are private to this user, and removed on every path out.
    with tempfile.TemporaryDirectory(prefix="shardkeeper-agent-") as workdir:
        try:
            raw = open_source(
                request, attempt.engine, Path(workdir), on_idle=pump.tick, observer=observer.feed
            )
            sources.append(raw)
            result = pump.run(_encoded(request, attempt, raw.reader), at_eof=raw.finish)
            parts = upload.complete()
        except BaseException:
            # Whatever happened (engine failure, store error, ^C, SIGTERM): stop the engine,
            # wait for parts on the wire, abort. No open upload survives a failure.
            for opened in sources:
                opened.close()
            upload.abort()
            raise
        finally:
            for opened in sources:
                opened.close()
    return _Streamed(result, len(parts), sources[0].bytes_read, time.monotonic() - clock)


def _encoded(request: AgentBackupRequest, attempt: _Attempt, raw: Any) -> Readable:
    """The raw stream with the request's compression, then encryption, stacked on it."""
    body: Readable = raw
    if request.compression is not None:
        body = compression.compressing_reader(raw, request.compression)
    if request.encryption is not None and attempt.key is not None:
        body = encryption.EncryptingReader(body, attempt.key, request.encryption.chunk_size_bytes)
    return body


def _report(
    request: AgentBackupRequest,
    attempt: _Attempt,
    streamed: _Streamed,
    observer: StreamObserver,
    engine_version: str | None,
    started_at: datetime,
) -> AgentBackupReport:
    """The report of a completed upload, with what the stream said about itself."""
    facts = observer.facts()
    if observer.failed:
        log.warning("backup.stream_facts_unavailable", reason=observer.failed)
    return AgentBackupReport(
        key=request.key,
        size_bytes=streamed.result.size_bytes,
        sha256=streamed.result.sha256,
        parts=streamed.parts,
        engine=attempt.engine.name,
        engine_version=engine_version or facts.engine_version,
        server_version=facts.server_version,
        binlog=facts.binlog,
        replica_source_binlog=(
            facts.replica_source_binlog if request.source.role == Role.REPLICA else None
        ),
        started_at=started_at,
        finished_at=datetime.now(UTC),
        stream=_stream_info(request, attempt, streamed),
    )


def _stream_info(request: AgentBackupRequest, attempt: _Attempt, streamed: _Streamed) -> StreamInfo:
    """How the stored stream was made: format, raw size, codecs, part sizes, timing."""
    engine = attempt.engine
    return StreamInfo(
        format=engine.format,
        raw_size_bytes=streamed.raw_bytes,
        compression=compression.info_for(request.compression) if request.compression else None,
        encryption=(
            encryption.info_for(request.encryption, attempt.key)
            if request.encryption is not None and attempt.key is not None
            else None
        ),
        part_sizes=(
            tuple(_summarise(streamed.result.part_sizes))
            if isinstance(request.destination, S3Location)
            else ()
        ),
        databases=tuple(request.databases) if engine.format == "sql" else (),
        stream_seconds=round(streamed.seconds, 3),
        agent_version=agent_version(),
    )


def _no_version() -> str | None:
    return None


def _refuse_committed(store: Store, request: AgentBackupRequest) -> None:
    """Raise if metadata.json exists: a committed backup is never overwritten."""
    manifest = naming.manifest_key_beside(request.key)  # the key's directory, any layout
    if store.exists(manifest):
        raise BackupExists(
            f"backup {request.backup_id} of {request.cluster}/{request.keyspace}/"
            f"{request.shard} is already committed ({manifest} exists); committed backups "
            "are immutable"
        )


def _summarise(sizes: list[int]) -> list[tuple[int, int]]:
    """Run-length encode part sizes: [(size, count), ...] in part order."""
    runs: list[tuple[int, int]] = []
    for size in sizes:
        if runs and runs[-1][0] == size:
            runs[-1] = (size, runs[-1][1] + 1)
        else:
            runs.append((size, 1))
    return runs
