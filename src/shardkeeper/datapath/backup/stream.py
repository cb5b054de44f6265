"""Pump a byte stream into multipart parts, hashing the stored bytes on the way.

This module owns the hot loop of a backup: large ``readinto`` calls into preallocated part
buffers, SHA-256 of the exact stored bytes in a dedicated thread (hashlib releases the GIL on
large buffers, so hashing overlaps reading and uploading), and the memory bound: at most
``max_in_flight + 1`` part buffers exist at any time (plus the fixed buffers of the
compressor and encryptor, when used). The source is anything with ``readinto``: the engine's
pipe (:class:`PipeReader`, which shows the raw stream to an observer and keeps progress
flowing while the engine is silent), or a compressor / encryptor stacked on it. It never logs
payload bytes, and never decides whether the stream is a good backup; ``at_eof`` lets the
caller veto the last part.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import select
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from shardkeeper.datapath.stores.multipart import MAX_PARTS, PartPlan
from shardkeeper.datapath.stores.protocol import Upload
from shardkeeper.errors import PermanentError

# Linux lets an unprivileged process grow a pipe to /proc/sys/fs/pipe-max-size (1 MiB by
# default): fewer, larger reads and fewer stalls of the engine. Not fatal if refused.
_PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_TICK_SECONDS = 1.0

Tap = Callable[[memoryview], None]
"""Passive observer of the stream, called in order from the hashing thread."""
ProgressFn = Callable[[int, int, float], None]
"""(bytes streamed, parts uploaded, bytes per second over the last interval)."""


@dataclass
class StreamResult:
    """What went through the pipe."""

    size_bytes: int
    sha256: str
    part_sizes: list[int] = field(default_factory=list)


def grow_pipe(fd: int) -> None:
    """Ask the kernel for a 1 MiB pipe buffer on ``fd`` (best effort)."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_BYTES)


class Readable(Protocol):
    """A byte source the pump can fill part buffers from."""

    def readinto(self, buffer: memoryview) -> int:
        """Fill some of ``buffer``; 0 at end of stream."""
        ...


class PipeReader:
    """Blocking reads from the engine's pipe that wake up every tick while it is silent.

    Waiting for locks or a replica's SQL thread can take minutes without a byte; the idle
    callback keeps progress lines (heartbeats) flowing. Every byte read is shown to
    ``observer`` (the engine's parser of its own stream) in order, and counted.
    """

    def __init__(
        self, fd: int, on_idle: Callable[[], None], observer: Tap | None = None
    ) -> None:
        """Read ``fd`` (not closed here)."""
        grow_pipe(fd)
        self._file = io.FileIO(fd, "rb", closefd=False)
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self._on_idle = on_idle
        self._observer = observer
        self.bytes_read = 0

    def _wait(self) -> None:
        while not self._poller.poll(_TICK_SECONDS * 1000):
            self._on_idle()

    def readinto(self, buffer: memoryview) -> int:
        """Read once into ``buffer`` (0 at end of file)."""
        self._wait()
        got = self._file.readinto(buffer) or 0
        if got:
            self.bytes_read += got
            if self._observer is not None:
                self._observer(buffer[:got])
        return got

    def read(self, size: int = -1) -> bytes:
        """Read once, up to ``size`` bytes (for readers that pull with ``read``)."""
        self._wait()
        data = self._file.read(size if size > 0 else _PIPE_BYTES) or b""
        if data:
            self.bytes_read += len(data)
            if self._observer is not None:
                self._observer(memoryview(data))
        return data


class _BufferPool:
    """Reuses part buffers of the current size so steady state allocates nothing."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._free: list[bytearray] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> bytearray:
        with self._lock:
            while self._free:
                buf = self._free.pop()
                if len(buf) == size:
                    return buf
        return bytearray(size)

    def give(self, buf: bytearray) -> None:
        with self._lock:
            if len(self._free) < self._keep:
                self._free.append(buf)


class _PartTracker:
    """Frees a part's buffer and its in-flight slot once both hash and upload are done."""

    def __init__(self, buf: bytearray, pool: _BufferPool, slots: threading.Semaphore) -> None:
        self._buf = buf
        self._pool = pool
        self._slots = slots
        self._pending = 2
        self._lock = threading.Lock()

    def done_callback(self, _future: Future[None]) -> None:
        self.done()

    def done(self) -> None:
        with self._lock:
            self._pending -= 1
            last = self._pending == 0
        if last:
            self._pool.give(self._buf)
            self._slots.release()


class StreamPump:
    """Reads a pipe into parts of ``plan``'s sizes and feeds them to ``upload``."""

    def __init__(
        self,
        upload: Upload,
        plan: PartPlan,
        *,
        max_in_flight: int,
        taps: tuple[Tap, ...] = (),
        on_progress: ProgressFn | None = None,
    ) -> None:
        """Configure the pump; nothing is read until :meth:`run`."""
        self._upload = upload
        self._plan = plan
        self._max_in_flight = max_in_flight
        self._taps = taps
        self._on_progress = on_progress
        self._sha = hashlib.sha256()
        self._pool = _BufferPool(keep=max_in_flight + 1)
        self._slots = threading.Semaphore(max_in_flight)
        self._bytes = 0
        self._last_tick = time.monotonic()
        self._last_tick_bytes = 0

    def run(self, source: Readable, at_eof: Callable[[], None] | None = None) -> StreamResult:
        """Pump ``source`` to its end; every part is submitted, none is awaited.

        Args:
            source: The stream to store (a :class:`PipeReader`, or a transform over one).
            at_eof: Called once at end of file *before* the last part is submitted; it
                raises to stop a bad stream from being completed.

        Returns:
            Size, SHA-256 and part sizes of everything read.

        Raises:
            PermanentError: The stream outgrew ``MAX_PARTS`` parts.
            ShardkeeperError: A part upload failed (raised at the next part boundary).
        """
        hasher = ThreadPoolExecutor(1, thread_name_prefix="sk-sha256")
        hashed: list[Future[None]] = []
        sizes: list[int] = []
        try:
            number = 1
            while True:
                if number > MAX_PARTS:
                    raise PermanentError(
                        f"stream exceeds {MAX_PARTS} parts ({self._bytes} bytes so far); "
                        "set a larger part size"
                    )
                buf = self._pool.take(self._plan.size_of(number))
                filled = self._fill(source, buf)
                eof = filled < len(buf)
                if eof:
                    # Shrinks in place (no copy), so the last part's body is exact.
                    del buf[filled:]
                    if at_eof is not None:
                        at_eof()
                if filled:
                    self._acquire_slot()
                    tracker = _PartTracker(buf, self._pool, self._slots)
                    future = hasher.submit(self._digest, buf)
                    future.add_done_callback(tracker.done_callback)
                    hashed.append(future)
                    self._upload.submit(number, buf, tracker.done)
                    sizes.append(filled)
                    number += 1
                if eof:
                    break
            for future in hashed:
                future.result()
        finally:
            hasher.shutdown(wait=True, cancel_futures=True)
        self._tick(force=True)
        return StreamResult(self._bytes, self._sha.hexdigest(), sizes)

    def _fill(self, source: Readable, buf: bytearray) -> int:
        filled = 0
        with memoryview(buf) as view:
            while filled < len(view):
                got = source.readinto(view[filled:])
                if not got:  # end of stream
                    break
                filled += got
                self._bytes += got
                self._tick()
        return filled

    def tick(self) -> None:
        """Report progress if a tick has passed (called while the source is idle)."""
        self._tick()

    def _acquire_slot(self) -> None:
        # Wake up every tick to report progress and to notice a failed part early.
        while not self._slots.acquire(timeout=_TICK_SECONDS):
            self._upload.raise_if_failed()
            self._tick()
        self._upload.raise_if_failed()

    def _digest(self, buf: bytearray) -> None:
        with memoryview(buf) as view:
            self._sha.update(view)
            for tap in self._taps:
                tap(view)

    def _tick(self, *, force: bool = False) -> None:
        now = time.monotonic()
        elapsed = now - self._last_tick
        if self._on_progress is None or (elapsed < _TICK_SECONDS and not force):
            return
        rate = (self._bytes - self._last_tick_bytes) / elapsed if elapsed > 0 else 0.0
        self._last_tick, self._last_tick_bytes = now, self._bytes
        self._on_progress(self._bytes, self._upload.parts_uploaded, rate)
