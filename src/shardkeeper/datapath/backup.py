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

The engine's bytes come from a :class:`Source`: the engine run here as a child process
(:class:`LocalEngine`, the default), or, when the request names a ``sidecar``, the engine
run by ``shardkeeper agent serve`` in the database pod and streamed over mTLS
(:class:`SidecarSource`; on Kubernetes only that pod can read the datadir). Both show every
raw byte to the engine's observer (binlog position, versions) and both decide completion
the same way: the local engine by its exit status and success line, the sidecar by its final
status frame, which carries the same verdict. A stream that ends without a good verdict is
aborted.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import structlog

from shardkeeper import naming
from shardkeeper.contracts.agent import (
    AgentBackupReport,
    AgentBackupRequest,
    AgentProgress,
    SidecarRef,
    StreamInfo,
)
from shardkeeper.contracts.common import CredentialRef, Role, S3Location
from shardkeeper.datapath import child, compression, encryption
from shardkeeper.datapath.credentials import resolve
from shardkeeper.datapath.enginelog import EngineLog
from shardkeeper.datapath.engines import Engine, get_engine
from shardkeeper.datapath.estimate import estimate_raw_bytes
from shardkeeper.datapath.multipart import DEFAULT_PART_BYTES, PartPlan
from shardkeeper.datapath.progress import ProgressReporter
from shardkeeper.datapath.sidecar import BackupStream, open_backup_stream
from shardkeeper.datapath.store import Store, open_store
from shardkeeper.datapath.stream import PipeReader, Readable, StreamPump, Tap
from shardkeeper.errors import BackupExists, EngineFailed, SpecInvalid

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
    if request.sidecar is not None and engine.format != "xbstream":
        raise SpecInvalid(
            f"engine {engine.name} cannot stream from a sidecar (only physical engines do); "
            "a logical dump connects to the server itself"
        )
    side = ThreadPoolExecutor(2, thread_name_prefix="sk-facts")
    # From a sidecar the engine runs there: its version comes from the stream it wrote.
    version_future = side.submit(engine.version if request.sidecar is None else _no_version)
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
        sidecar=request.sidecar.url if request.sidecar else None,
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
    sources: list[Source] = []

    def progress(stored: int, parts: int, rate: float) -> None:
        if reporter.total_estimate is None and estimate_future.done():
            reporter.total_estimate = estimate_future.result()
        reporter(stored, parts, rate, raw=sources[0].bytes_read if sources else None)

    pump = StreamPump(
        upload, plan, max_in_flight=request.max_parts_in_flight, on_progress=progress
    )
    clock = time.monotonic()
    # mkdtemp creates the directory 0700: the defaults file with the password and the
    # engine's target dir are private to this user, and removed on every path out.
    with tempfile.TemporaryDirectory(prefix="shardkeeper-agent-") as workdir:
        try:
            raw = open_source(
                request, engine, Path(workdir), on_idle=pump.tick, observer=observer.feed
            )
            sources.append(raw)
            body: Readable = raw.reader
            if request.compression is not None:
                body = compression.compressing_reader(raw.reader, request.compression)
            if request.encryption is not None and key is not None:
                body = encryption.EncryptingReader(
                    body, key, request.encryption.chunk_size_bytes
                )
            result = pump.run(body, at_eof=raw.finish)
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
    seconds = time.monotonic() - clock
    engine_version = version_future.result()
    facts = observer.facts()
    if observer.failed:
        log.warning("backup.stream_facts_unavailable", reason=observer.failed)
    raw_bytes = sources[0].bytes_read
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


class Source(Protocol):
    """The engine's raw output and its verdict, wherever the engine runs."""

    @property
    def reader(self) -> Any:
        """The raw stream: ``readinto`` and ``read``; every byte is shown to the observer."""
        ...

    @property
    def bytes_read(self) -> int:
        """Raw bytes read so far."""
        ...

    def finish(self) -> None:
        """At end of stream: raise EngineFailed unless the engine finished OK."""
        ...

    def close(self) -> None:
        """Stop the engine if it still runs and release everything; idempotent."""
        ...


def open_source(
    request: AgentBackupRequest,
    engine: Engine,
    workdir: Path,
    *,
    on_idle: Callable[[], None],
    observer: Tap,
) -> Source:
    """Start the engine here, or in the sidecar the request names.

    Args:
        request: The backup request (``sidecar`` selects the remote source).
        engine: The request's engine.
        workdir: A private (0700) directory removed by the caller.
        on_idle: Called about once a second while the engine writes nothing.
        observer: Sees every raw byte in order.

    Raises:
        SpecInvalid, EngineUnsupported: The engine cannot be started as requested.
        EndpointUnavailable: The sidecar is unreachable, busy or refused the client.
    """
    if request.sidecar is not None:
        return SidecarSource(request, request.sidecar, workdir, on_idle, observer)
    return LocalEngine(request, engine, workdir, on_idle, observer)


class LocalEngine:
    """The engine as a child process of the agent; its stdout is the stream."""

    def __init__(
        self,
        request: AgentBackupRequest,
        engine: Engine,
        workdir: Path,
        on_idle: Callable[[], None],
        observer: Tap,
    ) -> None:
        """Spawn the engine (its secrets go into ``workdir``)."""
        self._engine = engine
        command = engine.command(request, workdir)
        log.info("engine.starting", engine=engine.name, argv=command.argv)
        self._proc = child.spawn(command.argv, env=command.env, cwd=str(workdir))
        if self._proc.stdout is None or self._proc.stderr is None:  # pragma: no cover
            raise RuntimeError("engine pipes missing")
        self._log = EngineLog(self._proc.stderr, engine, command.secrets)
        self._pipe = PipeReader(self._proc.stdout.fileno(), on_idle=on_idle, observer=observer)
        self._closed = False

    @property
    def reader(self) -> PipeReader:
        """The engine's stdout."""
        return self._pipe

    @property
    def bytes_read(self) -> int:
        """Raw bytes read so far."""
        return self._pipe.bytes_read

    def finish(self) -> None:
        """Raise unless the engine exited cleanly *and* printed its success line."""
        _check_engine(self._proc, self._engine, self._log)

    def close(self) -> None:
        """Stop the engine, collect its log, close the pipes."""
        if self._closed:
            return
        self._closed = True
        child.stop(self._proc)
        self._log.join(timeout=5.0)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        if self._proc.stderr is not None:
            self._proc.stderr.close()


class _ObservedStream:
    """A sidecar stream whose bytes are counted and shown to the observer."""

    def __init__(self, stream: BackupStream, observer: Tap) -> None:
        self._stream = stream
        self._observer = observer
        self.bytes_read = 0

    def readinto(self, buffer: memoryview) -> int:
        got = self._stream.readinto(buffer) or 0
        if got:
            self.bytes_read += got
            self._observer(buffer[:got])
        return got

    def read(self, size: int = -1) -> bytes:
        buffer = bytearray(size if size > 0 else 1 << 20)
        with memoryview(buffer) as view:
            got = self.readinto(view)
        return bytes(buffer[:got])


class SidecarSource:
    """The engine run by the database pod's sidecar, streamed over mTLS (``GET /backup``)."""

    def __init__(
        self,
        request: AgentBackupRequest,
        sidecar: SidecarRef,
        workdir: Path,
        on_idle: Callable[[], None],
        observer: Tap,
    ) -> None:
        """Write the TLS material into ``workdir`` if needed and start the remote backup."""
        if request.extra_flags:
            log.warning("backup.sidecar_ignores_extra_flags", flags=sorted(request.extra_flags))
        tls = {
            name: _pem_file(ref, workdir / f"sidecar-{name}.pem")
            for name, ref in (("ca", sidecar.ca), ("cert", sidecar.cert), ("key", sidecar.key))
        }
        log.info("sidecar.connecting", url=sidecar.url, replica=request.source.role == Role.REPLICA)
        self._stream = open_backup_stream(
            sidecar.url, tls["ca"], tls["cert"], tls["key"],
            parallel=request.parallel,
            replica=request.source.role == Role.REPLICA,
            on_idle=on_idle,
        )
        self._reader = _ObservedStream(self._stream, observer)
        self.status: Mapping[str, Any] | None = None

    @property
    def reader(self) -> _ObservedStream:
        """The engine's bytes as the sidecar sent them."""
        return self._reader

    @property
    def bytes_read(self) -> int:
        """Raw bytes read so far."""
        return self._reader.bytes_read

    def finish(self) -> None:
        """Raise unless the sidecar's status frame says the engine finished OK."""
        self.status = self._stream.completed()

    def close(self) -> None:
        """Drop the connection (the sidecar stops an unfinished engine)."""
        self._stream.close()


def _pem_file(ref: CredentialRef, target: Path) -> Path:
    """A file holding ``ref``'s PEM: the file itself, or ``target`` (0600) written from it."""
    if ref.file is not None:
        return Path(ref.file)
    target.touch(mode=0o600)
    target.write_text(resolve(ref) + "\n")
    return target


def _no_version() -> str | None:
    return None


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
