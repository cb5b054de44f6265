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
    level: int = 1
    """zstd level; 1 is the fast end (about 2.6x on row data at a few hundred MB/s per core)."""
    threads: int = -1
    """zstd worker threads: -1 one per CPU, 0 compress in the reading thread."""


class EncryptionSpec(Contract):
    """Client-side encryption: AES-256-GCM in authenticated chunks."""

    key: CredentialRef
    """32 random bytes, base64-encoded, by reference; never stored anywhere by shardkeeper."""
    chunk_size_bytes: int = 1 << 20


class CompressionInfo(Contract):
    """How a stored stream was compressed (recorded in metadata.json)."""

    algorithm: str
    level: int


class EncryptionInfo(Contract):
    """How a stored stream was encrypted; names the key by id, never the key."""

    algorithm: str
    chunk_size_bytes: int
    key_id: str
    """First 16 hex digits of SHA-256 of the raw key: tells which key opens the backup."""


class StreamInfo(Contract):
    """How the stored object relates to what the engine produced."""

    format: Literal["xbstream", "sql"] = "xbstream"
    raw_size_bytes: int
    """Bytes the engine wrote (before compression and encryption)."""
    compression: CompressionInfo | None = None
    encryption: EncryptionInfo | None = None
    part_sizes: tuple[tuple[int, int], ...] = ()
    """Run-length encoded stored part sizes ``((size, count), …)``; empty on a filesystem."""
    databases: tuple[str, ...] = ()
    """Logical engine: the databases in the dump."""
    stream_seconds: float | None = None
    agent_version: str | None = None


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
    keyspace: str
    shard: str
    backup_id: str
    source: Instance
    credentials: DatabaseCredentials
    destination: Destination
    key: str
    """Object key of the backup stream (see :func:`stream_object_name`)."""
    engine: str = "mariabackup"
    extra_flags: dict[str, str] = {}
    parallel: int = 2
    """Engine threads copying data files."""
    part_size_bytes: int | None = None
    """None: planned by the agent (grows so an unknown-size stream can reach 5 TiB)."""
    max_parts_in_flight: int = 3
    """Parts on the wire at once; (this + 1) x part size is the data memory of the agent."""
    databases: list[str] = []
    """Logical engine: databases to dump; empty means every non-system database."""
    compression: CompressionSpec | None = None
    encryption: EncryptionSpec | None = None
    sidecar: SidecarRef | None = None
    """Physical engines: pull the engine's stream from this sidecar over mTLS instead of
    running the engine here (Kubernetes: only the database pod can read the datadir).
    ``source`` still names the instance (its role selects the replica options)."""


class BinlogPosition(Contract):
    """Replication coordinates of the backup's consistent point, from the engine's own files."""

    gtid: str | None = None
    file: str | None = None
    position: int | None = None


class AgentBackupReport(Contract):
    """Written by the agent when the object is complete (and only then)."""

    key: str
    size_bytes: int
    """Stored bytes (after compression and encryption): what ``sha256`` covers."""
    sha256: str
    parts: int
    engine: str
    engine_version: str | None = None
    server_version: str | None = None
    binlog: BinlogPosition = BinlogPosition()
    replica_source_binlog: BinlogPosition | None = None
    """From xtrabackup_slave_info when the source was a replica."""
    started_at: datetime
    finished_at: datetime
    stream: StreamInfo | None = None
    """Format, raw size, compression, encryption and part sizes; copy into the manifest."""


class AgentProgress(Contract):
    """Progress line the agent writes while streaming."""

    phase: str
    bytes_streamed: int = 0
    parts_uploaded: int = 0
    rate_bytes_per_second: float = 0.0
    at: datetime | None = None
    raw_bytes: int | None = None
    """Bytes the engine produced (backup) or the restore wrote out, when they differ."""
    total_bytes_estimate: int | None = None
    """Expected total of ``raw_bytes`` (or ``bytes_streamed``), when it can be estimated."""
    eta_seconds: float | None = None


class AgentRestoreRequest(Contract):
    """One restore of one shard backup, physical (into a datadir) or logical (into a server).

    Physical: the backup is downloaded, verified, extracted and prepared under
    ``staging_dir`` and then moved into ``datadir`` (which must be empty unless
    ``allow_non_empty``). The instance must be stopped; the caller starts it afterwards.
    Logical: the dump is downloaded and verified into ``staging_dir``, then streamed into the
    ``mariadb`` client connected to ``instance``.
    """

    cluster: str
    keyspace: str
    shard: str
    backup_id: str = "latest"
    """A backup id, or ``latest`` for the newest committed backup of the shard."""
    source: Destination
    encryption_key: CredentialRef | None = None
    staging_dir: str | None = None
    """Work directory (same filesystem as ``datadir`` for a fast move); default: beside it."""
    datadir: str | None = None
    allow_non_empty: bool = False
    keep_staged: bool = False
    """Physical: copy instead of move out of the staging directory (keeps the staged copy)."""
    use_memory_bytes: int | None = None
    """Physical: ``--use-memory`` of the prepare step."""
    instance: Instance | None = None
    credentials: DatabaseCredentials | None = None
    mode: Literal["full", "stage"] = "full"
    """``stage``: stop after prepare (physical) or verification (logical)."""


class AgentRestoreReport(Contract):
    """Written by the agent when the restore finished (and only then)."""

    backup_id: str
    engine: str
    object_key: str
    size_bytes: int
    sha256: str
    raw_size_bytes: int
    binlog: BinlogPosition = BinlogPosition()
    staged_dir: str | None = None
    datadir: str | None = None
    download_seconds: float
    prepare_seconds: float | None = None
    apply_seconds: float | None = None
    started_at: datetime
    finished_at: datetime
