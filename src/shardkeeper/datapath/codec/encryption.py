r"""Client-side encryption of backup streams: AES-256-GCM in authenticated chunks.

This module owns the encrypted stream format, the key loading rules and the key id. Format::

    header  "SKENC\x00\x00\x01" | version u8 | 3 zero bytes | chunk_size u32 | nonce base (12)
    chunks  ciphertext || 16-byte tag, one per plaintext chunk

Every chunk but the last carries exactly ``chunk_size`` plaintext bytes; the last carries
fewer (possibly none), so the end of the stream is itself authenticated. Chunk ``i`` uses
nonce ``base XOR i`` (in the low 8 bytes) and associated data ``header || i || final``, so a
flipped byte, a reordered, dropped or repeated chunk and a truncation at any point all fail
authentication. The nonce base is random per stream, so one key can encrypt many backups.

The key is 32 random bytes, base64-encoded, resolved from a credential reference. Only its
id (the first 16 hex digits of its SHA-256) is ever recorded or printed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from collections.abc import Iterator
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shardkeeper.contracts.agent import ENCRYPTION_ALGORITHM, EncryptionInfo, EncryptionSpec
from shardkeeper.contracts.common import CredentialRef
from shardkeeper.datapath.credentials import resolve
from shardkeeper.errors import ChecksumMismatch, SpecInvalid

MAGIC = b"SKENC\x00\x00\x01"
VERSION = 1
_HEADER = struct.Struct(">8sB3xI12s")
HEADER_BYTES = _HEADER.size
TAG_BYTES = 16
KEY_BYTES = 32
MIN_CHUNK_BYTES = 4096
MAX_CHUNK_BYTES = 64 << 20


class Readable(Protocol):
    """Anything with ``readinto`` (a pipe, a decompressor, another transform)."""

    def readinto(self, buffer: memoryview) -> int:
        """Fill some of ``buffer``; 0 at end of stream."""
        ...


def load_key(ref: CredentialRef) -> bytes:
    """Resolve and decode an encryption key.

    Raises:
        SpecInvalid: The reference cannot be resolved or is not 32 base64-encoded bytes
            (the message names the reference, never the value).
    """
    text = resolve(ref).strip()
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        where = ref.env or ref.file or (ref.secret.name if ref.secret else "?")
        raise SpecInvalid(
            f"encryption key from {where!r} must be {KEY_BYTES} random bytes, base64-encoded "
            "(e.g. `head -c 32 /dev/urandom | base64`)"
        )
    return key


def key_id(key: bytes) -> str:
    """The public name of a key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:16]


def info_for(spec: EncryptionSpec, key: bytes) -> EncryptionInfo:
    """What metadata.json records about the encryption of a stream."""
    return EncryptionInfo(
        algorithm=ENCRYPTION_ALGORITHM, chunk_size_bytes=spec.chunk_size_bytes, key_id=key_id(key)
    )


def _nonce(base: bytes, index: int) -> bytes:
    low = int.from_bytes(base[4:], "big") ^ index
    return base[:4] + low.to_bytes(8, "big")


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


def _check_chunk_size(size: int) -> None:
    if not MIN_CHUNK_BYTES <= size <= MAX_CHUNK_BYTES:
        raise SpecInvalid(
            f"encryption chunk size {size} is outside {MIN_CHUNK_BYTES}..{MAX_CHUNK_BYTES}"
        )


class EncryptingReader:
    """Pulls plaintext from ``inner`` and serves the encrypted stream through ``readinto``."""

    def __init__(self, inner: Readable, key: bytes, chunk_size: int) -> None:
        """Start a stream with a fresh random nonce base."""
        _check_chunk_size(chunk_size)
        self._inner = inner
        self._aead = AESGCM(key)
        self._chunk = chunk_size
        self._base = os.urandom(12)
        self._header = _HEADER.pack(MAGIC, VERSION, chunk_size, self._base)
        self._plain = bytearray(chunk_size)
        self._sealed = bytearray(chunk_size + TAG_BYTES)
        self._out = memoryview(self._header)
        self._index = 0
        self._ended = False

    def readinto(self, buffer: memoryview) -> int:
        """Copy the next encrypted bytes into ``buffer``; 0 at the end."""
        while not self._out:
            if self._ended:
                return 0
            self._seal_next()
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _seal_next(self) -> None:
        filled = 0
        with memoryview(self._plain) as view:
            while filled < self._chunk:
                got = self._inner.readinto(view[filled:])
                if not got:
                    break
                filled += got
            final = filled < self._chunk
            aad = _aad(self._header, self._index, final)
            nonce = _nonce(self._base, self._index)
            sealed = memoryview(self._sealed)[: filled + TAG_BYTES]
            self._aead.encrypt_into(nonce, view[:filled], aad, sealed)
        self._out = sealed
        self._index += 1
        self._ended = final


class Decryptor:
    """Push-mode decryption: feed stored bytes, get plaintext; :meth:`finish` at the end."""

    def __init__(self, key: bytes, *, expected_chunk_size: int | None = None) -> None:
        """Decrypt with ``key``; the chunk size is read from the stream's header."""
        self._aead = AESGCM(key)
        self._expected = expected_chunk_size
        self._buf = bytearray()
        self._header: bytes | None = None
        self._base = b""
        self._chunk = 0
        self._index = 0
        self._plain = bytearray()

    def feed(self, data: bytes | memoryview) -> Iterator[memoryview]:
        """Plaintext of every chunk completed by ``data``; each view is valid until the next."""
        self._buf += data
        if self._header is None:
            if len(self._buf) < HEADER_BYTES:
                return
            self._read_header()
        sealed = self._chunk + TAG_BYTES
        while len(self._buf) >= sealed:
            # A full-size chunk is never the last one (the last is always shorter).
            yield self._open(sealed, final=False)
        return

    def finish(self) -> Iterator[memoryview]:
        """Plaintext of the final chunk; raises if the stream was cut short."""
        if self._header is None:
            raise ChecksumMismatch("the encrypted stream ends before its header")
        if len(self._buf) < TAG_BYTES:
            raise ChecksumMismatch(
                f"the encrypted stream is truncated: its final chunk is missing after chunk "
                f"{self._index}"
            )
        yield self._open(len(self._buf), final=True)

    def _read_header(self) -> None:
        magic, version, chunk, base = _HEADER.unpack(bytes(self._buf[:HEADER_BYTES]))
        if magic != MAGIC or version != VERSION:
            raise ChecksumMismatch("the stored object is not a shardkeeper encrypted stream")
        if self._expected is not None and chunk != self._expected:
            raise ChecksumMismatch(
                f"the encrypted stream's chunk size {chunk} differs from the manifest's "
                f"{self._expected}"
            )
        _check_chunk_size(chunk)
        self._header = bytes(self._buf[:HEADER_BYTES])
        self._base, self._chunk = base, chunk
        self._plain = bytearray(chunk)
        del self._buf[:HEADER_BYTES]

    def _open(self, sealed: int, *, final: bool) -> memoryview:
        if self._header is None:  # pragma: no cover - header read first
            raise RuntimeError("header not read")
        out = memoryview(self._plain)[: sealed - TAG_BYTES]
        try:
            # Released before the del below: a bytearray with a live view cannot shrink.
            with memoryview(self._buf) as stored:
                self._aead.decrypt_into(
                    _nonce(self._base, self._index),
                    stored[:sealed],
                    _aad(self._header, self._index, final),
                    out,
                )
        except InvalidTag:
            raise ChecksumMismatch(
                f"encrypted chunk {self._index} failed authentication: the stored bytes were "
                "changed, truncated or reordered, or the key is not the one it was made with"
            ) from None
        del self._buf[:sealed]
        self._index += 1
        return out
