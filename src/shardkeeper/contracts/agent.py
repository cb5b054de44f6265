"""What the executor hands the agent and what the agent reports back.

The request carries credential references only; the agent resolves them itself. The agent
imports no temporalio, and these models are plain pydantic, so it can use them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from shardkeeper.contracts.base import Contract
from shardkeeper.contracts.common import (
    CredentialRef,
    DatabaseCredentials,
    Destination,
    Instance,
)

STREAM_OBJECT_STEM = "backup"
ENCRYPTION_ALGORITHM = "aes-256-gcm-chunked-v1"


class CompressionSpec(Contract):
    """Streaming compression of the backup (applied before encryption)."""

    algorithm: Literal["zstd"] = "zstd"
    """Compression algorithm; only ``zstd``."""
    level: int = 1
    """zstd level; 1 is the fast end (about 2.6x on row data at a few hundred MB/s per core)."""
    threads: int = -1
    """zstd worker threads: -1 one per CPU, 0 compress in the reading thread."""


class EncryptionSpec(Contract):
    """Client-side encryption: AES-256-GCM in authenticated chunks."""

    key: CredentialRef
    """32 random bytes, base64-encoded, by reference; never stored anywhere by shardkeeper."""
    chunk_size_bytes: int = 1 << 20
    """Plaintext bytes per authenticated chunk."""


class CompressionInfo(Contract):
    """How a stored stream was compressed (recorded in metadata.json)."""

    algorithm: str
    """Compression algorithm (``zstd``)."""
    level: int
    """Compression level used."""


class EncryptionInfo(Contract):
    """How a stored stream was encrypted; names the key by id, never the key."""

    algorithm: str
    """Encryption scheme (``aes-256-gcm-chunked-v1``)."""
    chunk_size_bytes: int
    """Plaintext bytes per authenticated chunk."""
    key_id: str
    """First 16 hex digits of SHA-256 of the raw key: tells which key opens the backup."""


class StreamInfo(Contract):
    """How the stored object relates to what the engine produced."""

    format: Literal["xbstream", "sql"] = "xbstream"
    """What the engine wrote: ``xbstream`` (mariabackup) or ``sql`` (logical dump)."""
    raw_size_bytes: int
    """Bytes the engine wrote (before compression and encryption)."""
    compression: CompressionInfo | None = None
    """How the stream was compressed; None: not compressed."""
    encryption: EncryptionInfo | None = None
    """How the stream was encrypted; None: stored in clear."""
    part_sizes: tuple[tuple[int, int], ...] = ()
    """Run-length encoded stored part sizes ``((size, count), …)``; empty on a filesystem."""
    databases: tuple[str, ...] = ()
    """Logical engine: the databases in the dump."""
    stream_seconds: float | None = None
    """Wall-clock seconds the stream took, from engine start to the last part stored."""
    agent_version: str | None = None
    """shardkeeper version of the agent that wrote the backup."""


def stream_object_name(
    engine: str,
    compression: CompressionSpec | None = None,
    encryption: EncryptionSpec | None = None,
) -> str:
    """The stream object's file name: ``backup.xbstream[.zst][.enc]`` (``.sql`` for logical).

    A pure function, so workflows can derive the key the agent will write.
    """
    name = f"{STREAM_OBJECT_STEM}.{'sql' if engine == 'logical' else 'xbstream'}"
    if compression is not None:
        name += ".zst"
    if encryption is not None:
        name += ".enc"
    return name


class SidecarRef(Contract):
    """Where the backup stream comes from when the engine runs in the database pod's sidecar.

    The TLS material is named by reference (a mounted file, an environment variable, or a
    Kubernetes Secret key that the executor turns into one); it never travels in a request.
    """

    url: str
    """The sidecar, ``https://host:port/backup``; its certificate must name ``host``."""
    ca: CredentialRef
    """PEM bundle of the CA that signed the sidecar's server certificate."""
    cert: CredentialRef
    """PEM client certificate, signed by the sidecar's client CA."""
    key: CredentialRef
    """PEM private key of ``cert``."""


class AgentBackupRequest(Contract):
    """One backup of one instance into one object."""

    cluster: str
    """Cluster name."""
    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    backup_id: str
    """Backup id (the prefix segment the object is stored under)."""
    source: Instance
    """The instance to back up."""
    credentials: DatabaseCredentials
    """Database account of the engine, the password by reference."""
    destination: Destination
    """Where the object is stored."""
    key: str
    """Object key of the backup stream (see :func:`stream_object_name`)."""
    engine: str = "mariabackup"
    """``mariabackup`` (physical) or ``logical`` (mariadb-dump)."""
    extra_flags: dict[str, str] = {}
    """Options passed to the engine (``--name=value``)."""
    parallel: int = 2
    """Engine threads copying data files."""
    part_size_bytes: int | None = None
    """None: planned by the agent (grows so an unknown-size stream can reach 5 TiB)."""
    max_parts_in_flight: int = 3
    """Parts on the wire at once; (this + 1) x part size is the data memory of the agent."""
    databases: list[str] = []
    """Logical engine: databases to dump; empty means every non-system database."""
    compression: CompressionSpec | None = None
    """Streaming compression; None stores the engine's bytes as written."""
    encryption: EncryptionSpec | None = None
    """Client-side encryption; None stores the stream in clear."""
    sidecar: SidecarRef | None = None
    """Physical engines: pull the engine's stream from this sidecar over mTLS instead of
    running the engine here (Kubernetes: only the database pod can read the datadir).
    ``source`` still names the instance (its role selects the replica options)."""


class BinlogPosition(Contract):
    """Replication coordinates of the backup's consistent point, from the engine's own files."""

    gtid: str | None = None
    """GTID position (``domain-server-sequence`` list) of the consistent point."""
    file: str | None = None
    """Binary log file name at the consistent point."""
    position: int | None = None
    """Byte offset in ``file``."""


class AgentBackupReport(Contract):
    """Written by the agent when the object is complete (and only then)."""

    key: str
    """Object key of the stored stream."""
    size_bytes: int
    """Stored bytes (after compression and encryption): what ``sha256`` covers."""
    sha256: str
    """Hex SHA-256 of the stored bytes."""
    parts: int
    """Number of objects or multipart parts written."""
    engine: str
    """Engine that produced the stream."""
    engine_version: str | None = None
    """Version of the engine binary; None when unknown."""
    server_version: str | None = None
    """``@@version`` of the source server; None when unknown."""
    binlog: BinlogPosition = BinlogPosition()
    """Binary log coordinates of the backup's consistent point."""
    replica_source_binlog: BinlogPosition | None = None
    """From xtrabackup_slave_info when the source was a replica."""
    started_at: datetime
    """When streaming started (UTC)."""
    finished_at: datetime
    """When the object was complete (UTC)."""
    stream: StreamInfo | None = None
    """Format, raw size, compression, encryption and part sizes; copy into the manifest."""


class AgentProgress(Contract):
    """Progress line the agent writes while streaming."""

    phase: str
    """What the agent is doing, e.g. ``starting``, ``streaming``, ``downloading``, ``preparing``,
    ``uploaded``."""
    bytes_streamed: int = 0
    """Stored bytes streamed so far (after compression and encryption)."""
    parts_uploaded: int = 0
    """Parts uploaded so far."""
    rate_bytes_per_second: float = 0.0
    """Current rate of ``bytes_streamed``."""
    at: datetime | None = None
    """When the line was written (UTC)."""
    raw_bytes: int | None = None
    """Bytes the engine produced (backup) or the restore wrote out, when they differ."""
    total_bytes_estimate: int | None = None
    """Expected total of ``raw_bytes`` (or ``bytes_streamed``), when it can be estimated."""
    eta_seconds: float | None = None
    """Estimated seconds to completion; None when unknown."""


class AgentRestoreRequest(Contract):
    """One restore of one shard backup, physical (into a datadir) or logical (into a server).

    Physical: the backup is downloaded, verified, extracted and prepared under
    ``staging_dir`` and then moved into ``datadir`` (which must be empty unless
    ``allow_non_empty``). The instance must be stopped; the caller starts it afterwards.
    Logical: the dump is downloaded and verified into ``staging_dir``, then streamed into the
    ``mariadb`` client connected to ``instance``.
    """

    cluster: str
    """Cluster name the backups are stored under."""
    keyspace: str
    """Keyspace name."""
    shard: str
    """Shard name."""
    backup_id: str = "latest"
    """A backup id, or ``latest`` for the newest committed backup of the shard."""
    strategy: str | None = None
    """Only backups of this strategy (when several share the id)."""
    schedule: str | None = None
    """Of several backups sharing the id (and strategy), this schedule's."""
    source: Destination
    """Where the backups are stored."""
    encryption_key: CredentialRef | None = None
    """Key of an encrypted backup, by reference."""
    staging_dir: str | None = None
    """Work directory (same filesystem as ``datadir`` for a fast move); default: beside it."""
    datadir: str | None = None
    """Physical: the data directory restored into (the instance must be stopped)."""
    allow_non_empty: bool = False
    """Physical: restore into a ``datadir`` that is not empty."""
    keep_staged: bool = False
    """Physical: copy instead of move out of the staging directory (keeps the staged copy)."""
    use_memory_bytes: int | None = None
    """Physical: ``--use-memory`` of the prepare step."""
    instance: Instance | None = None
    """Logical: the running server the dump is loaded into."""
    credentials: DatabaseCredentials | None = None
    """Logical: the account used to load the dump."""
    mode: Literal["full", "stage"] = "full"
    """``stage``: stop after prepare (physical) or verification (logical)."""


class AgentRestoreReport(Contract):
    """Written by the agent when the restore finished (and only then)."""

    backup_id: str
    """The backup restored (resolved when ``latest`` was asked for)."""
    engine: str
    """Engine that produced the backup."""
    object_key: str
    """Object key of the stream restored."""
    size_bytes: int
    """Stored bytes downloaded."""
    sha256: str
    """Hex SHA-256 of the downloaded bytes (equal to the manifest's)."""
    raw_size_bytes: int
    """Bytes after decryption and decompression."""
    binlog: BinlogPosition = BinlogPosition()
    """Binary log coordinates of the backup's consistent point."""
    staged_dir: str | None = None
    """Physical: where the prepared backup was staged."""
    datadir: str | None = None
    """Physical: the data directory restored into; None in ``stage`` mode."""
    download_seconds: float
    """Seconds spent downloading and verifying."""
    prepare_seconds: float | None = None
    """Physical: seconds of ``mariadb-backup --prepare``."""
    apply_seconds: float | None = None
    """Seconds moving into the datadir (physical) or loading the dump (logical)."""
    started_at: datetime
    """When the restore started (UTC)."""
    finished_at: datetime
    """When it finished (UTC)."""
