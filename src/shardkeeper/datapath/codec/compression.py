"""Streaming zstd compression for backups and decompression for restores.

This module owns how the data path uses the ``zstandard`` package: a pull-mode compressor
over the engine's stream (the pump fills part buffers from it), and a push-mode
decompressor for restores that refuses a truncated frame. zstd's own worker threads do the
compressing outside the GIL, so on two cores compression overlaps reading, hashing and
uploading.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import zstandard

from shardkeeper.contracts.agent import CompressionInfo, CompressionSpec
from shardkeeper.errors import ChecksumMismatch, SpecInvalid

READ_BYTES = 1 << 20  # pull the engine's pipe in large pieces: fewer calls, same memory bound
_OUT_BYTES = 1 << 20


class Source(Protocol):
    """What the compressor pulls from (``read`` like a file)."""

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes; empty at the end."""
        ...


def check(spec: CompressionSpec) -> None:
    """Refuse settings zstd would refuse later, with a clear message.

    Raises:
        SpecInvalid: The level or thread count is out of range.
    """
    low, high = -7, zstandard.MAX_COMPRESSION_LEVEL
    if not low <= spec.level <= high:
        raise SpecInvalid(f"compression level {spec.level} is outside zstd's {low}..{high}")
    if spec.threads < -1 or spec.threads > 64:
        raise SpecInvalid(f"compression threads {spec.threads} is outside -1..64")


def info_for(spec: CompressionSpec) -> CompressionInfo:
    """What metadata.json records about the compression."""
    return CompressionInfo(algorithm=spec.algorithm, level=spec.level)


def compressing_reader(source: Source, spec: CompressionSpec) -> Any:
    """A reader (``readinto``) of the zstd frame of everything ``source`` yields.

    Raises:
        SpecInvalid: Bad settings.
    """
    check(spec)
    compressor = zstandard.ZstdCompressor(level=spec.level, threads=spec.threads)
    pulled: Any = source  # zstandard pulls with .read(); its stubs only name IO[bytes]
    return compressor.stream_reader(pulled, read_size=READ_BYTES, closefd=False)


class Decompressor:
    """Push-mode zstd decompression of one frame; :meth:`finish` refuses a cut-off frame."""

    def __init__(self) -> None:
        """A fresh decompressor."""
        self._obj = zstandard.ZstdDecompressor().decompressobj(write_size=_OUT_BYTES)

    def feed(self, data: bytes | memoryview) -> Iterator[bytes]:
        """Decompressed bytes produced by ``data``."""
        if self._obj.eof:
            if len(data):
                raise ChecksumMismatch("data follows the end of the compressed stream")
            return
        try:
            out = self._obj.decompress(data)
        except zstandard.ZstdError as exc:
            raise ChecksumMismatch(f"the compressed stream is corrupt: {exc}") from None
        if out:
            yield out

    def finish(self) -> None:
        """Raise unless the frame ended properly."""
        if not self._obj.eof:
            raise ChecksumMismatch("the compressed stream is truncated (its frame never ends)")
