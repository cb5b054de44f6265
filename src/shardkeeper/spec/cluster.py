"""``kind: Cluster``: the topology, keyspaces to shards to instances, with credential refs."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from shardkeeper.spec.base import (
    API_VERSION,
    REFERENCE_FORMS,
    KeyspaceName,
    Metadata,
    Name,
    NotBool,
    SpecModel,
    ValueFrom,
    absolute_path,
    is_host,
    user_name,
)


def _quoted(value: object) -> object:
    # YAML reads an unquoted -80 as the integer -80; say so instead of "not a string".
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"shard {value!r} was read as a number: quote it in YAML, e.g. \"-80\"")
    return value


ShardName = Annotated[str, BeforeValidator(_quoted), user_name("shard")]
"""A Vitess key range: '-', '-80', '80-', '40-80' (or '0')."""

def _host(value: str) -> str:
    # reaches the client's option file and, with a sidecar, https://<host>:<port>/backup
    if not is_host(value):
        raise ValueError(
            f"invalid host {value!r}: use a DNS name or an IP address (e.g. 127.0.0.1, ::1 or "
            "db-0.db.databases.svc)"
        )
    return value


# systemd's unit name characters; never a leading '-' (``systemctl start -H evil``)
_UNIT_RE = re.compile(r"[A-Za-z0-9:_.@\\][A-Za-z0-9:_.@\\-]{0,255}", re.ASCII)


def _unit(value: str) -> str:
    if not _UNIT_RE.fullmatch(value):
        raise ValueError(
            f"invalid systemdUnit {value!r}: use a systemd unit name of letters, digits, ':', "
            "'-', '_', '.', '@' and '\\', not starting with '-' (e.g. mariadb@commerce-0.service)"
        )
    return value


def _argv(value: list[str]) -> list[str]:
    if not value or not value[0] or value[0].startswith("-"):
        raise ValueError(
            "invalid startCommand: the first element is the program (e.g. [systemctl, start, "
            "mariadb] or [/usr/sbin/mariadbd, --defaults-file=/etc/my.cnf])"
        )
    if any("\x00" in arg for arg in value):
        raise ValueError("invalid startCommand: an argument contains NUL")
    return value


_MAX_USER = 128


def _db_user(value: str) -> str:
    if not value or len(value) > _MAX_USER or not value.isprintable():
        raise ValueError(
            f"invalid user {value!r}: use 1 to {_MAX_USER} printable characters (no line "
            "breaks, tabs or NUL), e.g. shardkeeper"
        )
    return value


class InstanceSpec(SpecModel):
    """One mariadbd: reachable by host and port, or by socket."""

    name: Name
    role: Literal["primary", "replica"]
    host: Annotated[str, AfterValidator(_host)] | None = None
    """A DNS name or an IP address."""
    port: Annotated[int, NotBool, Field(ge=1, le=65535)] | None = None
    socket: Annotated[str, absolute_path("socket", "/run/mysqld/mysqld.sock")] | None = None
    datadir: Annotated[str, absolute_path("datadir", "/var/lib/mysql")] | None = None
    """Data directory on this host; needed for an in-place restore on one host."""
    start_command: Annotated[list[str], AfterValidator(_argv)] | None = None
    """argv that starts this instance (used after an in-place restore stopped it)."""
    systemd_unit: Annotated[str, AfterValidator(_unit)] | None = None
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

    user: Annotated[str, AfterValidator(_db_user)] = "root"
    password_from: ValueFrom | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise ValueError(
                "an inline 'password' is not accepted (the value is not shown: it is a secret); "
                f"set passwordFrom to a reference: {REFERENCE_FORMS}"
            )
        return data


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
