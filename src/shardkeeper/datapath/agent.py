"""The agent process: ``shardkeeper agent backup``, ``restore``, ``verify``; files in and out.

This module owns the agent process's protocol with its executor, identical for both jobs:

* input: the :class:`AgentBackupRequest` (or :class:`AgentRestoreRequest`) JSON in
  ``$SHARDKEEPER_REQUEST_FILE`` (or a path);
* progress: one :class:`AgentProgress` JSON object per line on **stdout**, flushed, about
  once a second (logs go to stderr, so stdout carries nothing else);
* success: the :class:`AgentBackupReport` (:class:`AgentRestoreReport`) JSON written
  atomically (temp file, fsync, rename) to ``$SHARDKEEPER_REPORT_FILE``; exit code 0. The
  report file exists only after a completed upload (restore);
* failure: ``{"error_type": <ShardkeeperError type>, "message": ...}`` written atomically
  to ``$SHARDKEEPER_ERROR_FILE`` when set; exit code 1 when retrying may help, 2 when not;
* SIGTERM: becomes an exception in the main thread, so the multipart upload is aborted and
  the engine stopped before the process exits (code 1, type ``JobFailed``).

It never imports temporalio and never prints a secret.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TypeVar

import structlog
from pydantic import BaseModel, ValidationError

from shardkeeper.contracts.agent import (
    AgentBackupRequest,
    AgentProgress,
    AgentRestoreRequest,
)
from shardkeeper.contracts.verify import AgentVerifyRequest
from shardkeeper.datapath.backup.run import run_backup
from shardkeeper.errors import JobFailed, ShardkeeperError, SpecInvalid
from shardkeeper.observability import configure_logging

log = structlog.get_logger(__name__)

REQUEST_ENV = "SHARDKEEPER_REQUEST_FILE"
REPORT_ENV = "SHARDKEEPER_REPORT_FILE"
ERROR_ENV = "SHARDKEEPER_ERROR_FILE"
EXIT_OK = 0
EXIT_TEMPORARY = 1
EXIT_PERMANENT = 2
_MAX_MESSAGE_CHARS = 4000


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM.

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` on the way up can
    swallow it before the upload is aborted.
    """


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # One is enough: ignore repeats so the clean-up (abort) is not interrupted in turn.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(f"signal {signum}")


def run_backup_job(
    request_path: str | None = None,
    report_path: str | None = None,
    error_path: str | None = None,
) -> int:
    """Run one backup as the agent process; see the module docstring for the protocol.

    Args:
        request_path: Request JSON file; default ``$SHARDKEEPER_REQUEST_FILE``.
        report_path: Where the report goes on success; default ``$SHARDKEEPER_REPORT_FILE``.
        error_path: Where the error goes on failure; default ``$SHARDKEEPER_ERROR_FILE``
            (optional).

    Returns:
        The process exit code: 0 success, 1 temporary failure, 2 permanent failure.
    """

    def body(request: AgentBackupRequest, emit: _ProgressWriter) -> BaseModel:
        report = run_backup(request, emit)
        emit(
            AgentProgress(
                phase="uploaded",
                bytes_streamed=report.size_bytes,
                parts_uploaded=report.parts,
                raw_bytes=report.stream.raw_size_bytes if report.stream else None,
                at=datetime.now(UTC),
            )
        )
        log.info("agent.done", key=report.key, size_bytes=report.size_bytes)
        return report

    return _run_job(
        AgentBackupRequest, body, "backup", request_path, report_path, error_path,
        aborted="the upload was aborted",
    )


def run_restore_job(
    request_path: str | None = None,
    report_path: str | None = None,
    error_path: str | None = None,
) -> int:
    """Run one restore as the agent process; same protocol as :func:`run_backup_job`.

    Returns:
        The process exit code: 0 success, 1 temporary failure, 2 permanent failure.
    """
    from shardkeeper.datapath.restore.job import run_restore

    def body(request: AgentRestoreRequest, emit: _ProgressWriter) -> BaseModel:
        report = run_restore(request, emit)
        emit(
            AgentProgress(
                phase="restored",
                bytes_streamed=report.size_bytes,
                raw_bytes=report.raw_size_bytes,
                at=datetime.now(UTC),
            )
        )
        log.info("agent.done", backup_id=report.backup_id, datadir=report.datadir)
        return report

    return _run_job(
        AgentRestoreRequest, body, "restore", request_path, report_path, error_path,
        aborted="the restore was stopped; nothing usable was left in the target",
    )


def run_verify_job(
    request_path: str | None = None,
    report_path: str | None = None,
    error_path: str | None = None,
) -> int:
    """Re-read one stored backup and write the verdict; same protocol as the others.

    A failed check is a verdict, not a failure: the report says ``failed`` and the exit code
    is 0. Only a store that cannot be read fails the job.

    Returns:
        The process exit code: 0 a verdict was reached, 1 temporary failure, 2 permanent.
    """
    from shardkeeper.datapath.stores.checks import check_backup

    def body(request: AgentVerifyRequest, emit: _ProgressWriter) -> BaseModel:
        last = [0.0]

        def progress(n: int) -> None:
            now = datetime.now(UTC)
            if now.timestamp() - last[0] >= 1:
                last[0] = now.timestamp()
                emit(AgentProgress(phase="verifying", bytes_streamed=n, at=now))

        report = check_backup(request, progress)
        log.info("agent.done", result=report.result, failed=report.failed_checks())
        return report

    return _run_job(
        AgentVerifyRequest, body, "verify", request_path, report_path, error_path,
        aborted="no verdict was recorded",
    )


Request = TypeVar("Request", AgentBackupRequest, AgentRestoreRequest, AgentVerifyRequest)


def _run_job(
    model: type[Request],
    body: Callable[[Request, _ProgressWriter], BaseModel],
    what: str,
    request_path: str | None,
    report_path: str | None,
    error_path: str | None,
    *,
    aborted: str,
) -> int:
    configure_logging()  # idempotent; makes sure logs go to stderr, never to stdout
    error_file = error_path or os.environ.get(ERROR_ENV) or None
    report_file = report_path or os.environ.get(REPORT_ENV) or None
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        # A report or error left by an earlier attempt in the same job directory must not
        # be mistaken for this attempt's outcome.
        for stale in (report_file, error_file):
            if stale:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(stale)
        request = _load_request(model, request_path or os.environ.get(REQUEST_ENV), what)
        if not report_file:
            raise SpecInvalid(f"no report file: pass report_path or set ${REPORT_ENV}")
        structlog.contextvars.bind_contextvars(
            cluster=request.cluster,
            keyspace=request.keyspace,
            shard=request.shard,
            backup_id=request.backup_id,
        )
        emit = _ProgressWriter()
        emit(AgentProgress(phase="starting", at=datetime.now(UTC)))
        report = body(request, emit)
        _write_atomically(Path(report_file), report.model_dump_json(indent=2))
        return EXIT_OK
    except Terminated:
        error: ShardkeeperError = JobFailed(f"the agent was terminated (SIGTERM); {aborted}")
    except KeyboardInterrupt:
        error = JobFailed(f"the agent was interrupted; {aborted}")
    except ShardkeeperError as exc:
        error = exc
    except Exception as exc:  # a bug: report it as retryable rather than crash silently
        log.exception("agent.unexpected_error")
        error = JobFailed(f"unexpected {type(exc).__name__} in the agent: {exc}")
    finally:
        signal.signal(signal.SIGTERM, previous)
        structlog.contextvars.unbind_contextvars("cluster", "keyspace", "shard", "backup_id")
    message = str(error)[:_MAX_MESSAGE_CHARS]
    log.error("agent.failed", error_type=error.type, message=message)
    if error_file:
        payload = {"error_type": error.type, "message": message, "retryable": error.retryable}
        with contextlib.suppress(OSError):
            _write_atomically(Path(error_file), json.dumps(payload, indent=2))
    return EXIT_TEMPORARY if error.retryable else EXIT_PERMANENT


def _load_request(model: type[Request], path: str | None, what: str) -> Request:
    if not path:
        raise SpecInvalid(f"no request file: pass request_path or set ${REQUEST_ENV}")
    try:
        return model.model_validate_json(Path(path).read_bytes())
    except OSError as exc:
        raise SpecInvalid(f"request file {path!r} cannot be read: {exc.strerror}") from None
    except ValidationError as exc:
        raise SpecInvalid(f"request file {path!r} is not a valid {what} request: {exc}") from None


class _ProgressWriter:
    """Writes progress lines to stdout; a closed stdout stops progress, not the backup."""

    def __init__(self) -> None:
        self._broken = False

    def __call__(self, progress: AgentProgress) -> None:
        if self._broken:
            return
        try:
            sys.stdout.write(progress.model_dump_json() + "\n")
            sys.stdout.flush()
        except (OSError, ValueError) as exc:
            self._broken = True
            log.warning("agent.progress_unwritable", error=type(exc).__name__)


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file, or all of the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

