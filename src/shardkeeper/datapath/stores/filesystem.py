"""The filesystem destination: a directory on a mounted volume, in the object-store layout.

A key ``a/b/c`` is the file ``<path>/a/b/c``. The commit protocol is the one of the object
store, made of POSIX steps: a stream is written to a hidden temp file next to its final
name (``.<name>.<random>.partial``), fsynced, renamed into place and the directory fsynced;
small objects (metadata.json) the same way. Temp files are the filesystem's "open multipart
uploads": invisible to :meth:`FilesystemStore.iter_objects` and swept by
:meth:`FilesystemStore.abort_uploads`. Messages name the path, nothing else.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import structlog

from shardkeeper.contracts.common import FilesystemLocation
from shardkeeper.datapath.stores.protocol import PartLedger, UploadedPart, UploadFilter
from shardkeeper.errors import (
    AccessDenied,
    BackupNotFound,
    BucketMissing,
    PermanentError,
    ShardkeeperError,
    TemporaryError,
)

log = structlog.get_logger(__name__)

PARTIAL_SUFFIX = ".partial"


def _error(exc: OSError, path: Path) -> ShardkeeperError:
    """Classify an OSError by errno class, never by message text."""
    if isinstance(exc, FileNotFoundError):
        return BackupNotFound(f"{path} does not exist")
    if isinstance(exc, PermissionError):
        return AccessDenied(f"permission denied on {path}")
    if isinstance(exc, (IsADirectoryError, NotADirectoryError)):
        return PermanentError(f"{path}: {exc.strerror}")
    # ENOSPC, EIO, a stale NFS handle: the volume may recover.
    return TemporaryError(f"filesystem error on {path}: {exc.strerror}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _partial_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")


def _final_of_partial(partial: Path) -> Path | None:
    """``.<name>.<rand>.partial`` → ``<name>``; None for other files."""
    name = partial.name
    if not (name.startswith(".") and name.endswith(PARTIAL_SUFFIX)):
        return None
    stem = name[1 : -len(PARTIAL_SUFFIX)]
    base, dot, _rand = stem.rpartition(".")
    return partial.with_name(base) if dot and base else None


class FileUpload(PartLedger):
    """One stream written as numbered parts into a temp file, renamed on completion.

    Parts are written in submission order by one background thread (order is the file's
    order; a filesystem gains nothing from parallel writes of one file), so reading the
    next part overlaps writing this one.
    """

    def __init__(self, root: Path, key: str) -> None:
        """Prepare the write of ``root/key``; nothing is created before the first part."""
        self.key = key
        self._final = root / key
        self._partial: Path | None = None
        self._handle: IO[bytes] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sk-fswrite")
        super().__init__()
        self._futures: list[Future[UploadedPart]] = []

    def submit(self, number: int, body: bytearray, on_done: Callable[[], None]) -> None:
        """Append part ``number`` in the background."""
        self.raise_if_failed()
        if self._handle is None:
            self._open()
        future = self._pool.submit(self._write, number, body)
        future.add_done_callback(lambda f: self._finished(f, on_done))
        self._futures.append(future)

    def _open(self) -> None:
        try:
            self._final.parent.mkdir(parents=True, exist_ok=True)
            self._partial = _partial_name(self._final)
            self._handle = open(self._partial, "xb", buffering=0)  # noqa: SIM115 - closed in complete/abort
        except OSError as exc:
            raise _error(exc, self._final) from exc

    def _write(self, number: int, body: bytearray) -> UploadedPart:
        if self._handle is None:  # pragma: no cover - _open ran first
            raise RuntimeError("upload not opened")
        with memoryview(body) as view:
            written = 0
            while written < len(view):
                written += self._handle.write(view[written:]) or 0
        return UploadedPart(number=number, etag="", size=len(body))

    def raise_if_failed(self) -> None:
        """Raise the classified error of the first failed write, if any."""
        if self.error is not None:
            error = self.error
            if isinstance(error, OSError):
                raise _error(error, self._final) from error
            raise error

    def complete(self) -> list[UploadedPart]:
        """fsync, rename into place, fsync the directory."""
        for future in list(self._futures):
            future.exception()
        self._pool.shutdown(wait=True)
        self.raise_if_failed()
        if self._handle is None or self._partial is None:
            raise PermanentError(f"nothing was written to {self._final}")
        try:
            os.fsync(self._handle.fileno())
            self._handle.close()
            os.replace(self._partial, self._final)
            _fsync_dir(self._final.parent)
        except OSError as exc:
            raise _error(exc, self._final) from exc
        self._handle = None
        log.info("fs.completed", path=str(self._final))
        return self._parts_in_order()

    def abort(self) -> None:
        """Stop writing and delete the temp file (errors are logged: this runs on failure)."""
        for future in self._futures:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None
        if self._partial is not None:
            try:
                self._partial.unlink(missing_ok=True)
                log.info("fs.aborted", path=str(self._final))
            except OSError as exc:
                log.error("fs.abort_failed", path=str(self._partial), error=exc.strerror)
            self._partial = None


class FileReader:
    """A stored file read front to back."""

    def __init__(self, path: Path) -> None:
        """Open ``path``."""
        try:
            self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
            self.size = os.fstat(self._file.fileno()).st_size
        except OSError as exc:
            raise _error(exc, path) from exc
        self._path = path

    def chunks(self, chunk_bytes: int) -> Iterator[bytes]:
        """The file's bytes in pieces of ``chunk_bytes``."""
        try:
            while chunk := self._file.read(chunk_bytes):
                yield chunk
        except OSError as exc:
            raise _error(exc, self._path) from exc

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class FilesystemStore:
    """Backups under a directory."""

    def __init__(self, location: FilesystemLocation) -> None:
        """Use ``location.path`` as the root (not created until something is written)."""
        self.location = location
        self.root = Path(location.path)

    def describe(self) -> str:
        """The directory and prefix."""
        prefix = self.location.prefix.strip("/")
        return f"{self.root / prefix}" if prefix else str(self.root)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise PermanentError(f"key {key!r} escapes {self.root}")
        return self.root / key

    def exists(self, key: str) -> bool:
        """Whether the file exists."""
        return self._path(key).is_file()

    def start_upload(self, key: str, *, max_in_flight: int) -> FileUpload:
        """A temp-file write of ``key`` (``max_in_flight`` bounds the caller's buffers only)."""
        self._path(key)
        return FileUpload(self.root, key)

    def _walk(self, prefix: str) -> Iterator[Path]:
        # A key prefix may end inside a name ("a/b" matches "a/bc/…"): walk from the
        # deepest whole directory and filter on the key text.
        start = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        if not start.is_dir():
            return
        for dirpath, _dirs, files in os.walk(start):
            for name in files:
                path = Path(dirpath) / name
                if path.relative_to(self.root).as_posix().startswith(prefix):
                    yield path

    def iter_objects(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """Complete files under ``prefix`` with their modification times (temp files hidden)."""
        try:
            for path in sorted(self._walk(prefix)):
                if _final_of_partial(path) is not None:
                    continue
                modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
                yield path.relative_to(self.root).as_posix(), modified
        except OSError as exc:
            raise _error(exc, self.root / prefix) from exc

    def abort_uploads(
        self, prefix: str, *, exact_key: bool = False, select: UploadFilter | None = None
    ) -> int:
        """Delete temp files of unfinished writes under ``prefix`` (or of exactly that key)."""
        aborted = 0
        where = prefix.rpartition("/")[0] + "/" if exact_key else prefix
        for path in list(self._walk(where)):
            final = _final_of_partial(path)
            if final is None:
                continue
            key = final.relative_to(self.root).as_posix()
            if exact_key and key != prefix:
                continue
            try:
                started = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
                if select is not None and not select(key, started):
                    continue
                path.unlink()
                aborted += 1
                log.info("fs.orphan_removed", key=key)
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("fs.orphan_remove_failed", key=key, error=exc.strerror)
        return aborted

    def read_bytes(self, key: str) -> bytes:
        """The whole file."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise _error(exc, path) from exc

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None:
        """Temp file, fsync, rename, fsync the directory."""
        final = self._path(key)
        partial = _partial_name(final)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "xb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, final)
            _fsync_dir(final.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            raise _error(exc, final) from exc

    def delete(self, key: str) -> None:
        """Unlink the file, and its directory (a backup id) once that is empty."""
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise _error(exc, path) from exc
        # Only the backup's own directory: shard directories stay, so a backup starting
        # in the same shard never loses its parent between mkdir and open.
        if path.parent != self.root:
            with contextlib.suppress(OSError):
                path.parent.rmdir()

    def open_read(self, key: str) -> FileReader:
        """Open the file for streaming."""
        return FileReader(self._path(key))


def preflight(location: FilesystemLocation) -> None:
    """Check that the directory exists, is a directory, and takes a file.

    The check is a real write (a file created and removed), since permission bits lie on NFS
    and for root.

    Raises:
        BucketMissing: The directory does not exist.
        PermanentError: The path is not a directory.
        AccessDenied: The directory is not writable.
        TemporaryError: The write failed otherwise.
    """
    root = Path(location.path)
    if not root.exists():
        raise BucketMissing(
            f"filesystem destination {root} does not exist; create the directory or mount "
            "the volume there (the agent writes below it)"
        )
    if not root.is_dir():
        raise PermanentError(f"filesystem destination {root} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".shardkeeper-preflight-", dir=root)
        os.close(fd)
        os.unlink(probe)
    except PermissionError:
        raise AccessDenied(f"filesystem destination {root} is not writable") from None
    except OSError as exc:
        raise TemporaryError(
            f"filesystem destination {root} cannot be written: {exc.strerror}"
        ) from None
