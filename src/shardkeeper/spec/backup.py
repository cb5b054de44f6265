"""``kind: Backup``: one backup now, of a whole cluster, one keyspace or one shard.

Like CloudNativePG's ``Backup`` next to its ``ScheduledBackup``: everything about *how* is
optional and defaults to a BackupSchedule of the same cluster (``spec.schedule``, or the
cluster's only schedule in the given files), so ``shardkeeper backup now --cluster demo``
backs up to where the nightly backups go.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, model_validator

from shardkeeper.spec import aliases
from shardkeeper.spec.base import API_VERSION, Duration, KeyspaceName, Metadata, Name, SpecModel
from shardkeeper.spec.cluster import ShardName
from shardkeeper.spec.destination import DestinationSpec
from shardkeeper.spec.executor import ExecutorSpec
from shardkeeper.spec.flags import ExtraFlags
from shardkeeper.spec.pod import PodSettingsSpec
from shardkeeper.spec.schedule import (
    CompressionSpec,
    EncryptionSpec,
    Engine,
    JobTimeout,
    Readiness,
    RetentionSpec,
    Target,
    database_name,
)


class BackupSpec(PodSettingsSpec):
    """Body of a Backup. Unset fields come from the defaults schedule, else the defaults."""

    cluster: Name
    """The Cluster document's name (also ``cluster: {name: ...}``, seed 002)."""
    keyspace: KeyspaceName | None = None
    """Only this keyspace (all its shards)."""
    shard: ShardName | None = None
    """Only this shard of ``keyspace``."""
    schedule: Name | None = None
    """BackupSchedule whose destination, engine, target, retention ... are the defaults."""
    destination: DestinationSpec | None = None
    engine: Engine | None = None
    databases: list[Annotated[str, AfterValidator(database_name)]] | None = None
    """Logical engine only: the databases to dump."""
    compression: CompressionSpec | None = None
    encryption: EncryptionSpec | None = None
    target: Target | None = None
    max_replica_lag: Duration | None = None
    readiness: Readiness | None = None
    job_timeout: JobTimeout | None = None
    retention: RetentionSpec | None = None
    executor: ExecutorSpec | None = None
    extra_flags: ExtraFlags = {}
    """Options passed to the backup engine, e.g. {use-memory: 1G}."""

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        return aliases.backup_fields(data)

    @model_validator(mode="after")
    def _shard_needs_keyspace(self) -> BackupSpec:
        if self.shard is not None and self.keyspace is None:
            raise ValueError("'shard' needs 'keyspace'")
        return self


class Backup(SpecModel):
    """``kind: Backup``."""

    api_version: Literal["shardkeeper.io/v1alpha1"] = API_VERSION
    kind: Literal["Backup"] = "Backup"
    metadata: Metadata
    spec: BackupSpec
