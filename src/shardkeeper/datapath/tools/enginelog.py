"""Turn an engine's stderr into structured log lines, and remember what matters about it.

This module owns the thread that drains the engine's stderr (so the engine never blocks on
a full pipe), the redaction of known secrets, the bounded tail quoted in ``EngineFailed``
and the detection of the engine's success line. It never sees the backup stream.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from typing import IO, Protocol

import structlog

log = structlog.get_logger(__name__)

TAIL_LINES = 25
MAX_LINE_CHARS = 500
_REDACTED = "[redacted]"
# Per-file progress chatter: kept at debug level so a shard with thousands of tables does
# not flood the agent log. The text only chooses the log level, never an outcome.
_CHATTER = ("...done", "Streaming ", "Copying ", "is copied successfully")


class LogSource(Protocol):
    """Who is talking: an engine, or a restore tool described like one."""

    name: str

    def is_success_line(self, line: str) -> bool:
        """Whether ``line`` is the tool's final success message."""
        ...


class Tool:
    """A child process that is not an engine (mbstream, the mariadb client)."""

    def __init__(self, name: str, success_marker: str | None = None) -> None:
        """Name it; ``success_marker`` ends its success line, if it prints one."""
        self.name = name
        self._marker = success_marker

    def is_success_line(self, line: str) -> bool:
        """Whether ``line`` ends with the success marker."""
        return self._marker is not None and line.rstrip().endswith(self._marker)


class EngineLog:
    """Drains one stderr pipe on a daemon thread."""

    def __init__(self, stream: IO[bytes], engine: LogSource, secrets: tuple[str, ...]) -> None:
        """Start draining ``stream``; ``secrets`` are replaced wherever they appear."""
        self._stream = stream
        self._engine = engine
        self._secrets = tuple(s for s in secrets if s)
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.saw_success = False
        # Run in a copy of the caller's context so bound log fields (cluster, shard, backup
        # id) appear on the engine's lines too; threads do not inherit contextvars.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._drain,), name="sk-engine-log", daemon=True
        )
        self._thread.start()

    def _drain(self) -> None:
        for raw in iter(self._stream.readline, b""):
            line = self.redact(raw.decode("utf-8", errors="replace").rstrip())
            if not line:
                continue
            if self._engine.is_success_line(line):
                self.saw_success = True
            self._tail.append(line[:MAX_LINE_CHARS])
            level = "debug" if any(marker in line for marker in _CHATTER) else "info"
            getattr(log, level)("engine.output", engine=self._engine.name, line=line)

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced."""
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text

    def join(self, timeout: float) -> None:
        """Wait until the engine closed stderr (it has exited) or ``timeout`` passed."""
        self._thread.join(timeout)

    def tail(self) -> str:
        """The last lines the engine printed, bounded and redacted."""
        return "\n".join(self._tail)
