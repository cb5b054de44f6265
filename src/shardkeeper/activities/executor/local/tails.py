"""Reading what a job left in its files without reading whole logs: tails and bounded reads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from shardkeeper.activities.executor.base import last_json_line, tail_lines
from shardkeeper.activities.executor.local_runner import STDERR_LOG, STDOUT_LOG

# Progress is the last line of stdout: reading the last 64 KiB finds it without reading a
# log that may have grown large.
_STDOUT_TAIL_BYTES: Final = 64 * 1024
_LOG_TAIL_MAX_BYTES: Final = 4 * 1024 * 1024


def read_text(path: Path, max_bytes: int | None = None) -> str | None:
    """The file's text (its first ``max_bytes`` if given), or None if it is absent."""
    try:
        with open(path, "rb") as handle:
            data = handle.read() if max_bytes is None else handle.read(max_bytes)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return data.decode(errors="replace")


def read_tail(path: Path, max_bytes: int) -> str:
    """The last ``max_bytes`` of a log, starting at a line boundary ("" if absent)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(0, size - max_bytes)
            handle.seek(start)
            data = handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return ""
    if start > 0:
        data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
    return data.decode(errors="replace")


def file_tail(path: Path, count: int) -> str:
    """The last ``count`` lines of a small log (the runner's), stripped."""
    return tail_lines(read_tail(path, _STDOUT_TAIL_BYTES), count).strip()


def progress(job_dir: Path) -> str | None:
    """The last progress line (a JSON object) the agent printed on stdout, if any."""
    return last_json_line(read_tail(job_dir / STDOUT_LOG, _STDOUT_TAIL_BYTES))


def stderr_tail(job_dir: Path, count: int) -> str:
    """The last ``count`` lines of the agent's stderr, reading no more than needed."""
    max_bytes = min(_LOG_TAIL_MAX_BYTES, max(_STDOUT_TAIL_BYTES, count * 1024))
    return tail_lines(read_tail(job_dir / STDERR_LOG, max_bytes), count)
