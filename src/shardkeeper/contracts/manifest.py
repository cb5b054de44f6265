"""metadata.json: the commit record of a backup.

A backup prefix without metadata.json is garbage: never listed, never restored, removed by
pruning after a grace period. It is written last, only after the stored bytes were re-read
and their SHA-256 matched what the agent streamed. It never contains a secret.
"""

from __future__ import annotations

from datetime import datetime

from shardkeeper import naming
from shardkeeper.contracts.agent import BinlogPosition, StreamInfo
from shardkeeper.contracts.base import Contract

MANIFEST_SCHEMA_VERSION = 2
"""1: the object is a raw xbstream. 2: adds ``stream`` (format, raw size, compression,
encryption, part sizes); a reader that ignores ``stream`` must not restore a version-2
backup, since its object may be compressed, encrypted or a SQL dump."""


class BackupManifest(Contract):
    """Everything needed to find, trust and restore one shard backup."""

    schema_version: int = MANIFEST_SCHEMA_VERSION
    """Version of this record's layout (see ``MANIFEST_SCHEMA_VERSION``)."""
    cluster: str
    """Cluster name."""
    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    backup_id: str
    """Backup id, the same for every shard of one run."""
    schedule: str | None = None
    """Schedule that took the backup; None for one taken outside a schedule."""
    strategy: str | None = None
    """Strategy that covered the shard; None outside a schedule."""
    source_instance: str
    """Name of the instance the backup was read from."""
    source_role: str
    """Its role when the backup was taken (``primary`` or ``replica``)."""
    engine: str
    """``mariabackup`` or ``logical``."""
    engine_version: str | None = None
    """Version of the engine binary; None when unknown."""
    server_version: str | None = None
    """``@@version`` of the source server; None when unknown."""
    object_key: str
    """Object key of the backup stream."""
    size_bytes: int
    """Stored bytes of the object."""
    sha256: str
    """Hex SHA-256 of the stored object."""
    parts: int
    """Number of objects or multipart parts."""
    started_at: datetime
    """When streaming started (UTC)."""
    finished_at: datetime
    """When the object was complete (UTC)."""
    verified_at: datetime
    """When the stored bytes were re-read and matched (UTC)."""
    binlog: BinlogPosition = BinlogPosition()
    """Binary log coordinates of the backup's consistent point."""
    replica_source_binlog: BinlogPosition | None = None
    """The primary's coordinates when the source was a replica."""
    workflow_id: str | None = None
    """Workflow id of the ShardBackup that wrote it."""
    stream: StreamInfo | None = None
    """None in version 1: the object is a raw xbstream."""
    trigger: str | None = None
    """``scheduled`` or ``manual`` (``backup now``, a ``kind: Backup`` document); None in
    manifests written before it was recorded: then a backup id with a manual run's ``-m…``
    suffix means manual. Retention never deletes a manual backup."""
    storage_dir: str | None = None
    """Name of the backup's directory under the shard (``<backup_id>_<schedule tag>``, unique
    per schedule and strategy); None in the layout before it, where the directory is the id."""

    def directory(self) -> str:
        """The backup's directory under the shard, in either layout."""
        return self.storage_dir or self.backup_id

    def is_manual(self) -> bool:
        """Whether this backup was taken by hand (kept until deleted)."""
        if self.trigger is not None:
            return self.trigger == "manual"
        return naming.is_manual_backup_id(self.backup_id)
