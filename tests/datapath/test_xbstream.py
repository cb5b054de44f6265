"""The xbstream tap finds the info files in any split of the stream and never fails a backup."""

from __future__ import annotations

import random
import struct

from shardkeeper.datapath.engines.xbstream import MAGIC, XbstreamTap


def _chunk(path: str, payload: bytes, offset: int = 0) -> bytes:
    name = path.encode()
    head = MAGIC + bytes([0, ord("P")]) + struct.pack("<I", len(name)) + name
    return head + struct.pack("<QQI", len(payload), offset, 0) + payload


def _eof(path: str) -> bytes:
    name = path.encode()
    return MAGIC + bytes([0, ord("E")]) + struct.pack("<I", len(name)) + name


def _stream() -> bytes:
    return b"".join([
        _chunk("ibdata1", b"\x00" * 300_000),
        _chunk("xtrabackup_binlog_info", b"mysql-bin.000001\t"),
        _chunk("db/t.ibd", b"\xff" * 70_000),
        _chunk("xtrabackup_binlog_info", b"983\t0-1-4\n", offset=17),
        _eof("xtrabackup_binlog_info"),
        _eof("ibdata1"),
        _chunk("xtrabackup_info", b"server_version = 10.11\n"),
        _eof("xtrabackup_info"),
    ])


def test_captures_wanted_files_across_any_split() -> None:
    data = _stream()
    rng = random.Random(7)
    for _ in range(20):
        tap = XbstreamTap(frozenset({"xtrabackup_binlog_info", "xtrabackup_info"}))
        pos = 0
        while pos < len(data):
            step = rng.choice([1, 3, 16, 4096, 100_000])
            tap.feed(memoryview(data)[pos : pos + step])
            pos += step
        assert tap.failed is None
        assert tap.files == {
            "xtrabackup_binlog_info": b"mysql-bin.000001\t983\t0-1-4\n",
            "xtrabackup_info": b"server_version = 10.11\n",
        }


def test_unknown_bytes_disable_the_tap_quietly() -> None:
    tap = XbstreamTap(frozenset({"xtrabackup_info"}))
    tap.feed(memoryview(b"not an xbstream at all, just bytes"))
    tap.feed(memoryview(_chunk("xtrabackup_info", b"x")))
    assert tap.failed is not None and tap.files == {}
