"""What the executor hands the agent and what the agent reports back.

The request carries credential references only; the agent resolves them itself. The agent
imports no temporalio, and these models are plain pydantic, so it can use them.
"""

from __future__ import annotations

from datetime import datetime

from shardkeeper.contracts.base import Contract
from shardkeeper.contracts.common import DatabaseCredentials, Instance, S3Location


class AgentBackupRequest(Contract):
    """One backup of one instance into one object."""

    cluster: str
    keyspace: str
    shard: str
    backup_id: str
    source: Instance
    credentials: DatabaseCredentials
    destination: S3Location
    key: str
    """Object key of the backup stream."""
    engine: str = "mariabackup"
    extra_flags: dict[str, str] = {}
    parallel: int = 2
    """Engine threads copying data files."""
    part_size_bytes: int | None = None
    """None: planned by the agent (grows so an unknown-size stream can reach 5 TiB)."""
    max_parts_in_flight: int = 2


class BinlogPosition(Contract):
    """Replication coordinates of the backup's consistent point, from the engine's own files."""

    gtid: str | None = None
    file: str | None = None
    position: int | None = None


class AgentBackupReport(Contract):
    """Written by the agent when the object is complete (and only then)."""

    key: str
    size_bytes: int
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


class AgentProgress(Contract):
    """Progress line the agent writes while streaming."""

    phase: str
    bytes_streamed: int = 0
    parts_uploaded: int = 0
    rate_bytes_per_second: float = 0.0
    at: datetime | None = None
