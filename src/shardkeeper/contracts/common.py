"""Shared building blocks: credential references, object-store locations, topology."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import model_validator

from shardkeeper.contracts.base import Contract


class SecretKeyRef(Contract):
    """A key inside a Kubernetes Secret."""

    name: str
    key: str


class CredentialRef(Contract):
    """Where a secret lives; exactly one field is set. The secret itself never travels."""

    env: str | None = None
    """Name of an environment variable of the worker or agent process."""
    file: str | None = None
    """Path of a file whose content (trailing newline stripped) is the secret."""
    secret: SecretKeyRef | None = None
    """A Kubernetes Secret key (Kubernetes executor only)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> CredentialRef:
        if sum(v is not None for v in (self.env, self.file, self.secret)) != 1:
            raise ValueError("exactly one of env, file or secret must be set")
        return self


class S3Credentials(Contract):
    """Access key pair by reference."""

    access_key_id: CredentialRef
    secret_access_key: CredentialRef


class S3Location(Contract):
    """An S3-compatible bucket and prefix, with how to reach it."""

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    """e.g. http://127.0.0.1:8333; None means the AWS default for the region."""
    region: str = "us-east-1"
    force_path_style: bool = False
    credentials: S3Credentials | None = None
    """None: the standard AWS credential chain of the process (environment, instance role)."""
    ca_bundle: str | None = None
    insecure_skip_verify: bool = False


class Role(StrEnum):
    """Role of a database instance in its shard."""

    PRIMARY = "primary"
    REPLICA = "replica"


class Instance(Contract):
    """One mariadbd of a shard."""

    name: str
    role: Role
    host: str | None = None
    port: int | None = None
    socket: str | None = None


class DatabaseCredentials(Contract):
    """Database account used for readiness checks and the backup engine."""

    user: str = "root"
    password: CredentialRef | None = None


class ShardTopology(Contract):
    """One shard: its keyspace, name and instances."""

    keyspace: str
    shard: str
    instances: tuple[Instance, ...]


class Topology(Contract):
    """A cluster as discovered at run time."""

    cluster: str
    shards: tuple[ShardTopology, ...]
    credentials: DatabaseCredentials = DatabaseCredentials()

    def keyspaces(self) -> list[str]:
        """Keyspace names, sorted."""
        return sorted({s.keyspace for s in self.shards})


class TopologySource(Contract):
    """Where ``resolve_shards`` reads the topology at every run.

    ``file``: a YAML file holding a ``kind: Cluster`` document, read by the worker at run
    time, so resharding needs no change to the schedule. ``inline``: a snapshot taken when
    the schedule was applied.
    """

    kind: Literal["file", "inline"]
    cluster: str
    path: str | None = None
    topology: Topology | None = None


class ExecutorConfig(Contract):
    """Which executor runs the agent, and its settings."""

    kind: Literal["local"] = "local"
    jobs_dir: str | None = None
    """Local executor: the jobs directory; None means the worker's configured default."""
