"""One shard backup: engine stdout → SHA-256 → one S3 multipart object, or nothing at all.

This module owns the life of a backup attempt: refusing to touch a committed backup,
clearing a previous attempt's orphaned upload, running the engine with its secrets in a
private directory, and deciding between completing and aborting the upload. The upload is
completed only when the engine exited 0 *and* printed its success line; every other ending
(engine failure, S3 error, KeyboardInterrupt, SIGTERM turned into an exception) aborts it.
It writes no metadata.json (the workflow commits after verification) and never logs the
stream or a secret.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import structlog

from shardkeeper import naming
from shardkeeper.contracts.agent import AgentBackupReport, AgentBackupRequest, AgentProgress
from shardkeeper.contracts.common import Role
from shardkeeper.datapath.enginelog import EngineLog
from shardkeeper.datapath.engines import Engine, get_engine
from shardkeeper.datapath.multipart import (
    DEFAULT_PART_BYTES,
    MultipartUpload,
    PartPlan,
    abort_open_uploads,
)
from shardkeeper.datapath.s3 import S3Client, location_error, make_client
from shardkeeper.datapath.stream import StreamPump
from shardkeeper.datapath.xbstream import XbstreamTap
from shardkeeper.errors import BackupExists, BackupNotFound, EngineFailed

log = structlog.get_logger(__name__)

# After stdout closes the engine only flushes its log and exits; a minute is generous.
ENGINE_EXIT_TIMEOUT_SECONDS = 60.0
_STOP_GRACE_SECONDS = 10.0


def run_backup(
    request: AgentBackupRequest, on_progress: Callable[[AgentProgress], None]
) -> AgentBackupReport:
    """Stream one engine backup into ``request.destination`` / ``request.key``.

    Args:
        request: What to back up and where; credentials are references.
        on_progress: Called about once a second with bytes streamed, parts uploaded, rate.

    Returns:
        The report of the completed object (size, SHA-256, parts, versions, binlog position).

    Raises:
        BackupExists: metadata.json already exists for this backup (committed backups are
            immutable), or the part plan cannot hold the stream.
        SpecInvalid: Bad extra flags, part size or credential references.
        EngineUnsupported: The engine is unknown or not installed.
        EngineFailed: The engine failed; the message carries a bounded, redacted log tail.
        AccessDenied, BucketMissing, EndpointUnavailable: The object store failed.
    """
    started_at = datetime.now(UTC)
    engine = get_engine(request.engine)
    plan = PartPlan(request.part_size_bytes or DEFAULT_PART_BYTES)
    location = request.destination
    client = make_client(location)
    _refuse_committed(client, request)
    abort_open_uploads(client, location, request.key, exact_key=True)
    engine_version = engine.version()
    log.info(
        "backup.starting",
        cluster=request.cluster,
        keyspace=request.keyspace,
        shard=request.shard,
        backup_id=request.backup_id,
        source=request.source.name,
        engine=engine.name,
        key=request.key,
        part_size_bytes=plan.initial_bytes,
    )
    tap = XbstreamTap(engine.stream_files)
    upload = MultipartUpload(
        client, location, request.key, max_in_flight=request.max_parts_in_flight
    )

    def progress(streamed: int, parts: int, rate: float) -> None:
        on_progress(
            AgentProgress(
                phase="streaming",
                bytes_streamed=streamed,
                parts_uploaded=parts,
                rate_bytes_per_second=round(rate, 1),
                at=datetime.now(UTC),
            )
        )

    pump = StreamPump(
        upload,
        plan,
        max_in_flight=request.max_parts_in_flight,
        taps=(tap.feed,) if engine.stream_files else (),
        on_progress=progress,
    )
    clock = time.monotonic()
    # mkdtemp creates the directory 0700: the defaults file with the password and the
    # engine's target dir are private to this user, and removed on every path out.
    with tempfile.TemporaryDirectory(prefix="shardkeeper-agent-") as workdir:
        command = engine.command(request, Path(workdir))
        log.info("engine.starting", engine=engine.name, argv=command.argv)
        proc = subprocess.Popen(
            command.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            env=_child_env(command.env),
            cwd=workdir,
        )
        if proc.stdout is None or proc.stderr is None:  # pragma: no cover - PIPE given
            raise RuntimeError("engine pipes missing")
        engine_log = EngineLog(proc.stderr, engine, command.secrets)
        try:
            result = pump.run(
                proc.stdout.fileno(), at_eof=lambda: _check_engine(proc, engine, engine_log)
            )
            parts = upload.complete()
        except BaseException:
            # Whatever happened (engine failure, S3 error, ^C, SIGTERM): stop the engine,
            # wait for parts on the wire, abort. No open upload survives a failure.
            _stop(proc)
            upload.abort()
            raise
        finally:
            _stop(proc)
            engine_log.join(timeout=5.0)
            proc.stdout.close()
            proc.stderr.close()
    seconds = time.monotonic() - clock
    facts = engine.facts(tap.files)
    if tap.failed and engine.stream_files:
        log.warning("backup.stream_facts_unavailable", reason=tap.failed)
    log.info(
        "backup.uploaded",
        key=request.key,
        size_bytes=result.size_bytes,
        parts=len(parts),
        part_sizes=_summarise(result.part_sizes),
        seconds=round(seconds, 2),
        mib_per_second=round(result.size_bytes / (1 << 20) / seconds, 1) if seconds else None,
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
    )


def _refuse_committed(client: S3Client, request: AgentBackupRequest) -> None:
    """Raise if metadata.json exists: a committed backup is never overwritten."""
    location = request.destination
    manifest = naming.manifest_key(
        location.prefix, request.cluster, request.keyspace, request.shard, request.backup_id
    )
    try:
        client.head_object(Bucket=location.bucket, Key=manifest)
    except Exception as exc:
        error = location_error(location, exc, manifest)
        if isinstance(error, BackupNotFound):
            return
        raise error from exc
    raise BackupExists(
        f"backup {request.backup_id} of {request.cluster}/{request.keyspace}/{request.shard} "
        f"is already committed ({manifest} exists); committed backups are immutable"
    )


def _check_engine(proc: subprocess.Popen[bytes], engine: Engine, engine_log: EngineLog) -> None:
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


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the engine if it still runs, then kill it after a grace period."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(timeout=_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


def _child_env(extra: Mapping[str, str]) -> dict[str, str] | None:
    """The agent's environment plus the engine's additions (None: inherit unchanged)."""
    if not extra:
        return None
    return {**os.environ, **extra}


def _summarise(sizes: list[int]) -> list[tuple[int, int]]:
    """Run-length encode part sizes: [(size, count), ...] in part order."""
    runs: list[tuple[int, int]] = []
    for size in sizes:
        if runs and runs[-1][0] == size:
            runs[-1] = (size, runs[-1][1] + 1)
        else:
            runs.append((size, 1))
    return runs
