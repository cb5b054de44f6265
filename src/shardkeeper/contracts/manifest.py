"""metadata.json: the commit record of a backup.

A backup prefix without metadata.json is garbage: never listed, never restored, removed by
pruning after a grace period. It is written last, only after the stored bytes were re-read
and their SHA-256 matched what the agent streamed. It never contains a secret.
"""

from __future__ import annotations

from datetime import datetime

from shardkeeper.contracts.agent import BinlogPosition, StreamInfo
from shardkeeper.contracts.base import Contract

MANIFEST_SCHEMA_VERSION = 2
"""1: the object is a raw xbstream. 2: adds ``stream`` (format, raw size, compression,
encryption, part sizes); a reader that ignores ``stream`` must not restore a version-2
backup, since its object may be compressed, encrypted or a SQL dump."""


class BackupManifest(Contract):
    """Everything needed to find, trust and restore one shard backup."""

    schema_version: int = MANIFEST_SCHEMA_VERSION
    cluster: str
    keyspace: str
    shard: str
    backup_id: str
    schedule: str | None = None
    strategy: str | None = None
    source_instance: str
    source_role: str
    engine: str
    engine_version: str | None = None
    server_version: str | None = None
    object_key: str
    size_bytes: int
    sha256: str
    parts: int
    started_at: datetime
    finished_at: datetime
    verified_at: datetime
    binlog: BinlogPosition = BinlogPosition()
    replica_source_binlog: BinlogPosition | None = None
    workflow_id: str | None = None
    stream: StreamInfo | None = None
    """None in version 1: the object is a raw xbstream."""
