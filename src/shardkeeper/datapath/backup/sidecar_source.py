"""The backup engine run by the database pod's sidecar, its stream read over mTLS.

This module owns the client side of ``GET /backup`` as a backup source: the TLS material
written privately into the work directory when it is not already a file, the sidecar's
bytes counted and shown to the engine's observer, and the verdict taken from the stream's
final status frame (the protocol is in ``sidecar.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from shardkeeper.contracts.agent import AgentBackupRequest, SidecarRef
from shardkeeper.contracts.common import CredentialRef, Role
from shardkeeper.datapath.backup.sidecar import BackupStream, open_backup_stream
from shardkeeper.datapath.backup.stream import Tap
from shardkeeper.datapath.credentials import resolve

log = structlog.get_logger(__name__)


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
