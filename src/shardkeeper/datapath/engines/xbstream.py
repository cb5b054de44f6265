"""Watch an xbstream as it passes and keep the few small files the backup describes itself with.

mariadb-backup (and xtrabackup) write ``xtrabackup_binlog_info``, ``xtrabackup_slave_info``
and ``xtrabackup_info`` into the stream itself. Reading them from the stream gives the
consistent point of *the stored bytes*, which is more trustworthy than parsing the engine's
log messages. This module only observes: it never alters, buffers or logs payload data, and
if it meets a chunk it does not understand it disables itself instead of failing the backup.

Chunk layout (little-endian)::

    "XBSTCK01" | flags u8 | type u8 ('P' payload, 'E' end of file) | path_len u32 | path
    'P' only:  payload_len u64 | payload_offset u64 | crc32 u32 | payload
"""

from __future__ import annotations

import struct

import structlog

log = structlog.get_logger(__name__)

MAGIC = b"XBSTCK01"
_HEAD = struct.Struct("<8sBBI")  # magic, flags, type, path length
_PAYLOAD_HEAD = struct.Struct("<QQI")  # payload length, payload offset, crc32
_TYPE_PAYLOAD = ord("P")
_TYPE_EOF = ord("E")
_MAX_PATH = 4096
_MAX_CAPTURE = 1 << 20  # the info files are a few hundred bytes; cap anything odd


class XbstreamTap:
    """Incremental xbstream parser that captures the payload of selected small files.

    Feed it the stream in order, in pieces of any size; it only copies header bytes and the
    payload of the wanted files, and skips everything else by arithmetic.
    """

    def __init__(self, wanted: frozenset[str]) -> None:
        """Capture the files whose stream path is in ``wanted``."""
        self._wanted = wanted
        self.files: dict[str, bytes] = {}
        self._header = bytearray()  # partial header bytes spanning feeds
        self._need = _HEAD.size  # header bytes needed before the next decision
        self._stage = "head"  # head -> path -> payload_head -> payload
        self._path = ""
        self._kind = 0
        self._skip = 0  # payload bytes still to pass over
        self._capture: bytearray | None = None
        self.failed: str | None = None

    def feed(self, data: memoryview) -> None:
        """Consume the next piece of the stream."""
        if self.failed is not None:
            return
        try:
            self._feed(data)
        except Exception as exc:  # a parser bug must not fail the backup
            self._fail(f"parser error: {type(exc).__name__}")

    def _feed(self, data: memoryview) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:
                take = min(self._skip, end - pos)
                if self._capture is not None:
                    self._capture += data[pos : pos + take]
                self._skip -= take
                pos += take
                if not self._skip:
                    self._end_payload()
                continue
            take = min(self._need - len(self._header), end - pos)
            self._header += data[pos : pos + take]
            pos += take
            if len(self._header) == self._need:
                self._advance()
                if self.failed is not None:
                    return

    def _advance(self) -> None:
        buf = bytes(self._header)
        self._header.clear()
        if self._stage == "head":
            magic, _flags, kind, path_len = _HEAD.unpack(buf)
            if magic != MAGIC or path_len > _MAX_PATH or kind not in (_TYPE_PAYLOAD, _TYPE_EOF):
                self._fail(f"unexpected chunk header (type {kind})")
                return
            self._kind = kind
            self._stage, self._need = "path", path_len
            if path_len == 0:
                self._fail("chunk without a path")
        elif self._stage == "path":
            self._path = buf.decode("utf-8", errors="replace")
            if self._kind == _TYPE_EOF:
                self._stage, self._need = "head", _HEAD.size
            else:
                self._stage, self._need = "payload_head", _PAYLOAD_HEAD.size
        elif self._stage == "payload_head":
            length, offset, _crc = _PAYLOAD_HEAD.unpack(buf)
            self._stage, self._need = "head", _HEAD.size
            wanted = self._path in self._wanted and offset + length <= _MAX_CAPTURE
            if wanted and offset == 0:
                self.files.pop(self._path, None)
            self._capture = bytearray() if wanted else None
            self._skip = length
            if length == 0:
                self._end_payload()

    def _end_payload(self) -> None:
        if self._capture is not None:
            self.files[self._path] = self.files.get(self._path, b"") + bytes(self._capture)
            self._capture = None

    def _fail(self, why: str) -> None:
        # Observing the stream must never fail a backup: the stream's validity is proven by
        # the engine's exit status and, later, by a restore drill.
        self.failed = why
        log.warning("xbstream.tap_disabled", reason=why)
