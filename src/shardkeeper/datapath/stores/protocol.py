"""Destinations behind one interface: the operations the data path needs from a backup store.

This module owns the :class:`Store` and :class:`Upload` protocols, which every
implementation (``stores/s3.py``, ``stores/filesystem.py``) satisfies and which imports no
implementation (:mod:`shardkeeper.datapath.stores.destination` picks one for a location).
Both use the same keys
(``<prefix>/<cluster>/<keyspace>/<shard>/<backup-id>_<tag>/<object>``) and the same commit
protocol: the stream object appears under its key only when complete (S3: multipart
completion; filesystem: temp file, fsync, rename), and metadata.json is written last.
Incomplete uploads are invisible to :meth:`Store.iter_objects` in both, and swept by
:meth:`Store.abort_uploads`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shardkeeper.contracts.common import Destination


@dataclass(frozen=True)
class UploadedPart:
    """One part the store acknowledged."""

    number: int
    etag: str
    size: int


class PartLedger:
    """Thread-safe record of finished part writes, shared by every ``Upload``.

    Parts finish on pool threads; the first failure is kept so the producer can raise it
    on its next submit, and the finished parts come back in part-number order.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: list[UploadedPart] = []
        self.error: BaseException | None = None

    @property
    def parts_uploaded(self) -> int:
        """Parts finished so far."""
        with self._lock:
            return len(self._done)

    def _finished(self, future: Future[UploadedPart], on_done: Callable[[], None]) -> None:
        try:
            if future.cancelled():
                return
            exc = future.exception()
            with self._lock:
                if exc is not None:
                    if self.error is None:
                        self.error = exc
                else:
                    self._done.append(future.result())
        finally:
            on_done()

    def _parts_in_order(self) -> list[UploadedPart]:
        with self._lock:
            return sorted(self._done, key=lambda part: part.number)


class Upload(Protocol):
    """One object being written in numbered parts, submitted in order."""

    key: str

    @property
    def parts_uploaded(self) -> int:
        """Parts acknowledged so far."""
        ...

    def submit(self, number: int, body: bytearray, on_done: Callable[[], None]) -> None:
        """Write part ``number`` in the background; ``on_done`` runs when it finished.

        ``body`` must not change until ``on_done`` ran.
        """
        ...

    def raise_if_failed(self) -> None:
        """Raise the classified error of the first failed part, if any."""
        ...

    def complete(self) -> list[UploadedPart]:
        """Wait for every part and make the object visible under its key."""
        ...

    def abort(self) -> None:
        """Stop, wait for parts in flight and discard everything written (never raises)."""
        ...


class ObjectReader(Protocol):
    """A stored object read front to back."""

    size: int

    def chunks(self, chunk_bytes: int) -> Iterator[bytes]:
        """The object's bytes in pieces of at most ``chunk_bytes``."""
        ...

    def close(self) -> None:
        """Release the connection or file."""
        ...


UploadFilter = Callable[[str, datetime | None], bool]
"""``(key, initiated)`` → whether an open upload should be aborted."""


class Store(Protocol):
    """A backup destination: keys, whole small objects, streamed large ones."""

    @property
    def location(self) -> Destination:
        """Where this store is."""
        ...

    def describe(self) -> str:
        """Where this is, for messages (never a credential)."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a complete object exists under ``key``."""
        ...

    def start_upload(self, key: str, *, max_in_flight: int) -> Upload:
        """Prepare a multipart write of ``key``; nothing is visible before ``complete``."""
        ...

    def abort_uploads(
        self, prefix: str, *, exact_key: bool = False, select: UploadFilter | None = None
    ) -> int:
        """Abort incomplete uploads under ``prefix`` (or of exactly that key); count them."""
        ...

    def iter_objects(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """``(key, last modified)`` of every complete object under ``prefix``."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """A whole (small) object. Raises BackupNotFound when absent."""
        ...

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None:
        """Write a whole (small) object atomically."""
        ...

    def delete(self, key: str) -> None:
        """Delete one object (absent is fine)."""
        ...

    def open_read(self, key: str) -> ObjectReader:
        """Open an object for streaming. Raises BackupNotFound when absent."""
        ...
