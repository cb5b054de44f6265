"""``kind: Restore``: put a shard, a keyspace or a whole cluster back to a backup.

In place (the cluster's own instances) or ``into`` the instances of another Cluster
document; the backups come from a BackupSchedule's destination or straight from an object
store location (the cluster name is the key prefix; no schedule or Temporal history needed).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from shardkeeper.spec.base import (
    API_VERSION,
    Duration,
    KeyspaceName,
    Metadata,
    Name,
    NotBool,
    SpecModel,
    ValueFrom,
)
from shardkeeper.spec.cluster import ShardName
from shardkeeper.spec.destination import S3Spec


class RestoreSourceSpec(SpecModel):
    """Where the backups are: a schedule's destination, or an S3 location."""

    backup_id: str = "latest"
    """A backup id, or ``latest`` (the newest id committed for every target shard)."""
    schedule: Name | None = None
    """A BackupSchedule (in the given files) whose destination holds the backups; of backups
    of several schedules sharing an id, this one's."""
    s3: S3Spec | None = None
    """Raw object store: bucket, prefix and credentials; no schedule needed."""
    cluster: Name | None = None
    """Cluster name the backups were stored under (the key prefix); default: spec.cluster."""
    strategy: Name | None = None
    """Only backups this strategy took; needed when several strategies (or, with
    ``schedule``, several schedules) took a backup of a shard with the same id."""
    encryption_key_from: ValueFrom | None = None

    @model_validator(mode="after")
    def _one_place(self) -> RestoreSourceSpec:
        if self.schedule is not None and self.s3 is not None:
            raise ValueError("set 'schedule' or 's3', not both")
        return self


class RestoreSpec(SpecModel):
    """Body of a Restore."""

    cluster: Name
    keyspace: KeyspaceName | None = None
    shard: ShardName | None = None
    into: Name | None = None
    """Name of another Cluster document (in the given files) whose instances receive the
    data; omit to restore in place."""
    source: RestoreSourceSpec = RestoreSourceSpec()
    require_approval: bool = False
    approval_timeout: Duration | None = None
    max_concurrent_shards: Annotated[int, NotBool, Field(ge=1, le=10_000)] = 4
    validation: Literal["checksum", "count"] = "checksum"

    @model_validator(mode="after")
    def _shard_needs_keyspace(self) -> RestoreSpec:
        if self.shard is not None and self.keyspace is None:
            raise ValueError("'shard' needs 'keyspace'")
        return self


class Restore(SpecModel):
    """``kind: Restore``."""

    api_version: Literal["shardkeeper.io/v1alpha1"] = API_VERSION
    kind: Literal["Restore"] = "Restore"
    metadata: Metadata
    spec: RestoreSpec
