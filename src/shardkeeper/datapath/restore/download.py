"""Read a stored backup back: hash every stored byte, decode, hand the result to a sink.

This module owns the restore side of the stream: a reader thread pulls the object in large
pieces through a small bounded queue (memory: ``QUEUE_DEPTH`` pieces), while the calling
thread hashes the stored bytes, decrypts and decompresses them and writes the plaintext to
the sink (mbstream's stdin, the mariadb client's, or a spool file). The digest is the
verdict: when the sink or a decoder fails, the rest of the object is still read and
hashed, so a corrupted or truncated object is reported as a :class:`ChecksumMismatch` with
both digests rather than as whatever the tool downstream happened to say.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import structlog

from shardkeeper.contracts.agent import StreamInfo
from shardkeeper.datapath.codec.compression import Decompressor
from shardkeeper.datapath.codec.encryption import Decryptor
from shardkeeper.datapath.stores.protocol import Store
from shardkeeper.errors import ChecksumMismatch

log = structlog.get_logger(__name__)

CHUNK_BYTES = 8 << 20
QUEUE_DEPTH = 4
_TICK_SECONDS = 1.0

Sink = Callable[[bytes | memoryview], None]
"""Consumes decoded bytes, in order."""
Progress = Callable[[int, int], None]
"""(stored bytes read, decoded bytes written)."""


class Decoder:
    """Stored bytes → engine bytes: decrypt (if encrypted), then decompress (if compressed)."""

    def __init__(self, stream: StreamInfo | None, key: bytes | None) -> None:
        """Decode what ``stream`` describes; ``key`` is required when it is encrypted."""
        encrypted = stream is not None and stream.encryption is not None
        if encrypted and key is None:  # pragma: no cover - checked by the callers first
            raise ValueError("encrypted stream without a key")
        self._decrypt = (
            Decryptor(
                key,
                expected_chunk_size=stream.encryption.chunk_size_bytes,
            )
            if stream is not None and stream.encryption is not None and key is not None
            else None
        )
        self._decompress = (
            Decompressor() if stream is not None and stream.compression is not None else None
        )

    def feed(self, data: bytes | memoryview) -> Iterator[bytes | memoryview]:
        """Decoded bytes produced by ``data``."""
        if self._decrypt is None:
            yield from self._inflate(data)
            return
        for plain in self._decrypt.feed(data):
            yield from self._inflate(plain)

    def finish(self) -> Iterator[bytes | memoryview]:
        """The last decoded bytes; raises if the stream was cut short."""
        if self._decrypt is not None:
            for plain in self._decrypt.finish():
                yield from self._inflate(plain)
        if self._decompress is not None:
            self._decompress.finish()

    def _inflate(self, data: bytes | memoryview) -> Iterator[bytes | memoryview]:
        if self._decompress is None:
            if len(data):
                yield data
            return
        yield from self._decompress.feed(data)


@dataclass(frozen=True)
class DownloadResult:
    """What was read and what was written."""

    size_bytes: int
    sha256: str
    decoded_bytes: int
    seconds: float


class _Downstream:
    """The decoder and the sink behind the hash; a failure there is kept, not raised at once.

    Reading and hashing go on after a decoder or the sink failed: the digest decides what to
    report, so a corrupted object is a ChecksumMismatch rather than the tool's complaint.
    """

    def __init__(self, decoder: Decoder | None, sink: Sink | None) -> None:
        self._decoder = decoder
        self._sink = sink
        self.decoded = 0
        self.failure: BaseException | None = None

    def feed(self, chunk: bytes) -> None:
        if self.failure is not None:
            return
        try:
            self._emit(self._decoder.feed(chunk) if self._decoder else (chunk,))
        except Exception as exc:
            self.failure = exc
            log.warning("download.downstream_failed", error=type(exc).__name__)

    def finish(self) -> None:
        """Flush the decoder once the digest matched; raise the kept failure, if any."""
        if self.failure is None and self._decoder is not None:
            try:
                self._emit(self._decoder.finish())
            except Exception as exc:
                self.failure = exc
        if self.failure is not None:
            raise self.failure

    def _emit(self, pieces: Iterable[bytes | memoryview]) -> None:
        for out in pieces:
            if self._sink is not None:
                self._sink(out)
            self.decoded += len(out)


_END = object()


def _read_ahead(
    store: Store, key: str, pieces: queue.Queue[object], stop: threading.Event
) -> None:
    """Reader thread: put pieces, then ``_END`` (or the exception that ended it)."""
    try:
        reader = store.open_read(key)
        try:
            for chunk in reader.chunks(CHUNK_BYTES):
                while not stop.is_set():
                    try:
                        pieces.put(chunk, timeout=_TICK_SECONDS)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        finally:
            reader.close()
        pieces.put(_END)
    except BaseException as exc:  # handed to the consumer, which re-raises it
        pieces.put(exc)


def download(
    store: Store,
    key: str,
    *,
    expected_sha256: str,
    expected_size_bytes: int,
    decoder: Decoder | None,
    sink: Sink | None,
    on_progress: Progress | None = None,
) -> DownloadResult:
    """Stream ``key`` through ``decoder`` into ``sink``, verifying SHA-256 and size.

    Args:
        store: Where the object is.
        key: The stored stream's key.
        expected_sha256: The manifest's digest of the stored bytes.
        expected_size_bytes: The manifest's size of the stored bytes.
        decoder: Decryption/decompression, or None to hand the stored bytes to ``sink``.
        sink: Receives the decoded bytes; None to only verify.
        on_progress: Called about once a second.

    Raises:
        ChecksumMismatch: The stored bytes differ from the manifest (both digests in the
            message), or a decoder refused them.
        ShardkeeperError: The store failed, or the sink's error when the bytes were right.
    """
    sha = hashlib.sha256()
    size = 0
    downstream = _Downstream(decoder, sink)
    pieces: queue.Queue[object] = queue.Queue(QUEUE_DEPTH)
    stop = threading.Event()
    reader = threading.Thread(
        target=_read_ahead, args=(store, key, pieces, stop), name="sk-download", daemon=True
    )
    start = last_tick = time.monotonic()
    reader.start()
    try:
        while True:
            item = pieces.get()
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise item
            chunk: bytes = item  # type: ignore[assignment]
            sha.update(chunk)
            size += len(chunk)
            downstream.feed(chunk)
            now = time.monotonic()
            if on_progress is not None and now - last_tick >= _TICK_SECONDS:
                last_tick = now
                on_progress(size, downstream.decoded)
        digest = sha.hexdigest()
        if digest != expected_sha256 or size != expected_size_bytes:
            raise ChecksumMismatch(
                f"{key}: the stored object has sha256 {digest} and {size} bytes; its "
                f"manifest says sha256 {expected_sha256} and {expected_size_bytes} bytes"
            )
        downstream.finish()
    finally:
        stop.set()
        reader.join(timeout=5.0)
    if on_progress is not None:
        on_progress(size, downstream.decoded)
    return DownloadResult(size, digest, downstream.decoded, time.monotonic() - start)
