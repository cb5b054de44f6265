"""``kind: Cluster``: the topology, keyspaces to shards to instances, with credential refs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from shardkeeper.spec.base import (
    API_VERSION,
    KeyspaceName,
    Metadata,
    Name,
    SpecModel,
    ValueFrom,
    user_name,
)


def _quoted(value: object) -> object:
    # YAML reads an unquoted -80 as the integer -80; say so instead of "not a string".
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"shard {value!r} was read as a number: quote it in YAML, e.g. \"-80\"")
    return value


ShardName = Annotated[str, BeforeValidator(_quoted), user_name("shard")]
"""A Vitess key range: '-', '-80', '80-', '40-80' (or '0')."""


class InstanceSpec(SpecModel):
    """One mariadbd: reachable by host and port, or by socket."""

    name: Name
    role: Literal["primary", "replica"]
    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    socket: str | None = None
    datadir: str | None = None
    """Data directory on this host; needed for an in-place restore on one host."""
    start_command: list[str] | None = None
    """argv that starts this instance (used after an in-place restore stopped it)."""
    systemd_unit: str | None = None
    """Alternatively, the systemd unit that runs it (``systemctl start UNIT``)."""

    @model_validator(mode="after")
    def _reachable(self) -> InstanceSpec:
        if self.socket is None and (self.host is None or self.port is None):
            raise ValueError("set 'socket', or both 'host' and 'port'")
        return self


class ShardSpec(SpecModel):
    """A shard: a key range such as ``-80``, ``80-``, or ``-`` for an unsharded keyspace."""

    name: ShardName
    """Vitess key range: '-', '-80', '80-', '40-80', ..."""
    instances: Annotated[list[InstanceSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _one_primary(self) -> ShardSpec:
        primaries = [i.name for i in self.instances if i.role == "primary"]
        if len(primaries) != 1:
            raise ValueError(
                f"a shard needs exactly one instance with role 'primary' (found {len(primaries)})"
            )
        return self


class KeyspaceSpec(SpecModel):
    """A keyspace and its shards."""

    name: KeyspaceName
    shards: Annotated[list[ShardSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_shards(self) -> KeyspaceSpec:
        names = [s.name for s in self.shards]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate shard names: {', '.join(dup)}")
        return self


class DatabaseCredentialsSpec(SpecModel):
    """The account shardkeeper uses; the password only by reference."""

    user: str = "root"
    password_from: ValueFrom | None = None


class ClusterSpec(SpecModel):
    """Body of a Cluster."""

    credentials: DatabaseCredentialsSpec = DatabaseCredentialsSpec()
    keyspaces: Annotated[list[KeyspaceSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> ClusterSpec:
        names = [k.name for k in self.keyspaces]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate keyspace names: {', '.join(dup)}")
        instances = [i.name for k in self.keyspaces for s in k.shards for i in s.instances]
        dup = sorted({n for n in instances if instances.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate instance names: {', '.join(dup)}")
        return self


class Cluster(SpecModel):
    """``kind: Cluster``."""

    api_version: Literal["shardkeeper.io/v1alpha1"] = API_VERSION
    kind: Literal["Cluster"] = "Cluster"
    metadata: Metadata
    spec: ClusterSpec
