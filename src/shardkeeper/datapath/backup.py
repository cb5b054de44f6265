"""One shard backup: engine → [zstd] → [AES-256-GCM] → SHA-256 → one stored object, or nothing.

This module owns the life of a backup attempt: refusing to touch a committed backup,
clearing a previous attempt's orphaned upload, running the engine with its secrets in a
private directory, stacking the optional compression and encryption on its stream, and
deciding between completing and aborting the upload. The upload is completed only when the
engine succeeded by its own rules (mariadb-backup: exit 0 *and* its success line); every
other ending (engine failure, store error, KeyboardInterrupt, SIGTERM turned into an
exception) aborts it. The destination is any :class:`~shardkeeper.datapath.store.Store`
(S3 or a filesystem). It writes no metadata.json (the workflow commits after
verification) and never logs the stream or a secret.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import structlog

from shardkeeper import naming
from shardkeeper.contracts.agent import (
    AgentBackupReport,
    AgentBackupRequest,
    AgentProgress,
    StreamInfo,
)
from shardkeeper.contracts.common import Role, S3Location
from shardkeeper.datapath import child, compression, encryption
from shardkeeper.datapath.enginelog import EngineLog
from shardkeeper.datapath.engines import Engine, get_engine
from shardkeeper.datapath.estimate import estimate_raw_bytes
from shardkeeper.datapath.multipart import DEFAULT_PART_BYTES, PartPlan
from shardkeeper.datapath.progress import ProgressReporter
from shardkeeper.datapath.store import Store, open_store
from shardkeeper.datapath.stream import PipeReader, Readable, StreamPump
from shardkeeper.errors import BackupExists, EngineFailed

log = structlog.get_logger(__name__)

# After stdout closes the engine only flushes its log and exits; a minute is generous.
ENGINE_EXIT_TIMEOUT_SECONDS = 60.0


def agent_version() -> str | None:
    """shardkeeper's installed version, for the manifest."""
    try:
        return importlib.metadata.version("shardkeeper")
    except importlib.metadata.PackageNotFoundError:
        return None


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
    engine = get_engine(request.engine)
    plan = PartPlan(request.part_size_bytes or DEFAULT_PART_BYTES)
    if request.compression is not None:
        compression.check(request.compression)
    key = encryption.load_key(request.encryption.key) if request.encryption else None
    # The version probe and the size estimate cost a subprocess and a connection: run them
    # beside the stream instead of delaying its first byte.
    side = ThreadPoolExecutor(2, thread_name_prefix="sk-facts")
    version_future = side.submit(engine.version)
    estimate_future = side.submit(estimate_raw_bytes, request)
    side.shutdown(wait=False)
    store = open_store(request.destination)
    _refuse_committed(store, request)
    store.abort_uploads(request.key, exact_key=True)
    log.info(
        "backup.starting",
        cluster=request.cluster,
        keyspace=request.keyspace,
        shard=request.shard,
        backup_id=request.backup_id,
        source=request.source.name,
        engine=engine.name,
        destination=store.describe(),
        key=request.key,
        part_size_bytes=plan.initial_bytes,
        compression=request.compression.model_dump() if request.compression else None,
        encryption_key_id=encryption.key_id(key) if key else None,
    )
    observer = engine.observer()
    upload = store.start_upload(request.key, max_in_flight=request.max_parts_in_flight)
    reporter = ProgressReporter(on_progress, "streaming", what="backup")
    pipes: list[PipeReader] = []

    def progress(stored: int, parts: int, rate: float) -> None:
        if reporter.total_estimate is None and estimate_future.done():
            reporter.total_estimate = estimate_future.result()
        reporter(stored, parts, rate, raw=pipes[0].bytes_read if pipes else None)

    pump = StreamPump(
        upload, plan, max_in_flight=request.max_parts_in_flight, on_progress=progress
    )
    clock = time.monotonic()
    # mkdtemp creates the directory 0700: the defaults file with the password and the
    # engine's target dir are private to this user, and removed on every path out.
    with tempfile.TemporaryDirectory(prefix="shardkeeper-agent-") as workdir:
        command = engine.command(request, Path(workdir))
        log.info("engine.starting", engine=engine.name, argv=command.argv)
        proc = child.spawn(command.argv, env=command.env, cwd=workdir)
        if proc.stdout is None or proc.stderr is None:  # pragma: no cover - PIPE given
            raise RuntimeError("engine pipes missing")
        engine_log = EngineLog(proc.stderr, engine, command.secrets)
        try:
            pipe = PipeReader(proc.stdout.fileno(), on_idle=pump.tick, observer=observer.feed)
            pipes.append(pipe)
            source: Readable = pipe
            if request.compression is not None:
                source = compression.compressing_reader(pipe, request.compression)
            if request.encryption is not None and key is not None:
                source = encryption.EncryptingReader(
                    source, key, request.encryption.chunk_size_bytes
                )
            result = pump.run(source, at_eof=lambda: _check_engine(proc, engine, engine_log))
            parts = upload.complete()
        except BaseException:
            # Whatever happened (engine failure, store error, ^C, SIGTERM): stop the engine,
            # wait for parts on the wire, abort. No open upload survives a failure.
            child.stop(proc)
            upload.abort()
            raise
        finally:
            child.stop(proc)
            engine_log.join(timeout=5.0)
            proc.stdout.close()
            proc.stderr.close()
    seconds = time.monotonic() - clock
    engine_version = version_future.result()
    facts = observer.facts()
    if observer.failed:
        log.warning("backup.stream_facts_unavailable", reason=observer.failed)
    raw_bytes = pipes[0].bytes_read
    log.info(
        "backup.uploaded",
        key=request.key,
        size_bytes=result.size_bytes,
        raw_size_bytes=raw_bytes,
        parts=len(parts),
        part_sizes=_summarise(result.part_sizes),
        seconds=round(seconds, 2),
        mib_per_second=round(raw_bytes / (1 << 20) / seconds, 1) if seconds else None,
    )
    stream = StreamInfo(
        format=engine.format,
        raw_size_bytes=raw_bytes,
        compression=compression.info_for(request.compression) if request.compression else None,
        encryption=(
            encryption.info_for(request.encryption, key)
            if request.encryption is not None and key is not None
            else None
        ),
        part_sizes=(
            tuple(_summarise(result.part_sizes))
            if isinstance(request.destination, S3Location)
            else ()
        ),
        databases=tuple(request.databases) if engine.format == "sql" else (),
        stream_seconds=round(seconds, 3),
        agent_version=agent_version(),
    )
    return AgentBackupReport(
        key=request.key,
        size_bytes=result.size_bytes,
        sha256=result.sha256,
        parts=len(parts),
        engine=engine.name,
        engine_version=engine_version or facts.engine_version,
        server_version=facts.server_version,
        binlog=facts.binlog,
        replica_source_binlog=(
            facts.replica_source_binlog if request.source.role == Role.REPLICA else None
        ),
        started_at=started_at,
        finished_at=datetime.now(UTC),
        stream=stream,
    )


def _refuse_committed(store: Store, request: AgentBackupRequest) -> None:
    """Raise if metadata.json exists: a committed backup is never overwritten."""
    manifest = naming.manifest_key(
        request.destination.prefix,
        request.cluster,
        request.keyspace,
        request.shard,
        request.backup_id,
    )
    if store.exists(manifest):
        raise BackupExists(
            f"backup {request.backup_id} of {request.cluster}/{request.keyspace}/"
            f"{request.shard} is already committed ({manifest} exists); committed backups "
            "are immutable"
        )


def _check_engine(
    proc: subprocess.Popen[bytes], engine: Engine, engine_log: EngineLog
) -> None:
    """At end of stream: raise unless the engine exited cleanly *and* said so."""
    try:
        returncode = proc.wait(timeout=ENGINE_EXIT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise EngineFailed(
            f"{engine.name} closed its output but did not exit within "
            f"{ENGINE_EXIT_TIMEOUT_SECONDS:.0f}s; last lines:\n{engine_log.tail()}"
        ) from None
    engine_log.join(timeout=10.0)  # the success line is among the last it prints
    if not engine.succeeded(returncode, engine_log.saw_success):
        said = "printed its success line" if engine_log.saw_success else (
            "never printed its success line"
        )
        raise EngineFailed(
            f"{engine.name} exited with status {returncode} and {said}; "
            f"last lines:\n{engine_log.tail()}"
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
