"""The backup engine as a child process of the agent: its stdout is the stream.

This module owns the local source of a backup: spawning the engine with its secrets in the
private work directory, draining its stderr, and the verdict at end of stream, which needs
both a clean exit *and* the engine's success line (mariadb-backup pointed at a wrong socket
still writes megabytes before failing).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import structlog

from shardkeeper.contracts.agent import AgentBackupRequest
from shardkeeper.datapath.backup.stream import PipeReader, Tap
from shardkeeper.datapath.engines import Engine
from shardkeeper.datapath.tools import child
from shardkeeper.datapath.tools.enginelog import EngineLog
from shardkeeper.errors import EngineFailed

log = structlog.get_logger(__name__)

# After stdout closes the engine only flushes its log and exits; a minute is generous.
ENGINE_EXIT_TIMEOUT_SECONDS = 60.0


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
