"""Shared building blocks: credential references, object-store locations, topology."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Tag, model_validator

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

    kind: Literal["s3"] = "s3"
    """Discriminator of :data:`Destination`; optional on the wire (absent means s3)."""
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
    storage_class: str | None = None
    """S3 storage class of the backup objects (e.g. ``STANDARD_IA``); None: the bucket's."""
    sse: Literal["AES256", "aws:kms"] | None = None
    """Server-side encryption requested on every object written; None: the bucket default."""
    sse_kms_key_id: str | None = None
    """KMS key id or ARN when ``sse`` is ``aws:kms`` (an identifier, not a secret)."""


class FilesystemLocation(Contract):
    """A directory (a mounted volume) holding backups in the object-store layout.

    Keys map to paths below ``path``: ``<path>/<prefix>/<cluster>/<keyspace>/<shard>/<id>/…``.
    """

    kind: Literal["filesystem"] = "filesystem"
    path: str
    """Absolute directory; created when missing."""
    prefix: str = ""


def _destination_kind(value: Any) -> str:
    # Documents and histories written before FilesystemLocation existed have no ``kind``:
    # they are S3 locations.
    if isinstance(value, dict):
        return str(value.get("kind") or "s3")
    return str(getattr(value, "kind", "s3"))


Destination = Annotated[
    Annotated[S3Location, Tag("s3")] | Annotated[FilesystemLocation, Tag("filesystem")],
    Discriminator(_destination_kind),
]
"""Where backups live: an S3-compatible bucket or a filesystem path."""


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
    datadir: str | None = None
    start_command: tuple[str, ...] = ()
    systemd_unit: str | None = None


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


class KubernetesAccess(Contract):
    """How a worker reaches a Kubernetes API server.

    Neither field set: the in-cluster service account when running in a pod, else the
    default kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``).
    """

    kubeconfig: str | None = None
    """Path of a kubeconfig file readable by the worker."""
    context: str | None = None
    """Context of the kubeconfig; None means its current context."""
    in_cluster: bool = False
    """Use the pod's service account (ignores ``kubeconfig``)."""


class PodDiscovery(Contract):
    """Which pods make up a cluster, and the labels that place them in it."""

    namespace: str
    label_selector: str | None = None
    """Extra selector (``app=mariadb``) ANDed with the cluster label."""
    cluster_label: str = "shardkeeper.io/cluster"
    keyspace_label: str = "shardkeeper.io/keyspace"
    shard_label: str = "shardkeeper.io/shard"
    """Shard names such as ``-80`` are not valid label values: the label holds an encoded
    value and the annotation of the same key the raw one (see ``render.label_value`` in
    ``activities/executor``)."""
    role_label: str = "shardkeeper.io/role"
    """Value ``primary`` or ``replica``."""
    port_name: str = "mysql"
    """The container port that serves MariaDB."""
    service: str | None = None
    """Headless Service of the pods: hosts become ``<pod>.<service>.<ns>.svc`` instead of
    pod IPs (stable across restarts)."""
    credentials: DatabaseCredentials = DatabaseCredentials()


class TopologySource(Contract):
    """Where ``resolve_shards`` reads the topology at every run.

    ``file``: a YAML file holding a ``kind: Cluster`` document, read by the worker at run
    time, so resharding needs no change to the schedule. ``inline``: a snapshot taken when
    the schedule was applied. ``kubernetes``: the pods the API server lists now.
    """

    kind: Literal["file", "inline", "kubernetes"]
    cluster: str
    path: str | None = None
    topology: Topology | None = None
    pods: PodDiscovery | None = None
    """``kubernetes`` only: where the cluster's pods are and how they are labelled."""
    access: KubernetesAccess = KubernetesAccess()
    """``kubernetes`` only: how to reach the API server."""


class ExecutorConfig(Contract):
    """Which executor runs the agent, and its settings.

    The Kubernetes fields are ignored by the local executor. Pod placement fields
    (``resources`` … ``annotations``) are Kubernetes JSON (camelCase) passed through to the
    Job's pod template; they never hold secrets.
    """

    kind: Literal["local", "kubernetes"] = "local"
    jobs_dir: str | None = None
    """Local executor: the jobs directory; None means the worker's configured default."""
    access: KubernetesAccess = KubernetesAccess()
    namespace: str = "default"
    image: str | None = None
    """Agent image (Kubernetes); required there."""
    image_pull_policy: str | None = None
    service_account_name: str | None = None
    agent_command: tuple[str, ...] = ("shardkeeper",)
    """How the image starts the CLI; the agent subcommand (``agent backup``) is appended."""
    backoff_limit: int = 0
    """Pod retries inside one Job; 0 because the workflow decides about new attempts."""
    ttl_seconds_after_finished: int | None = None
    """None: finished Jobs stay until history pruning removes them."""
    active_deadline_seconds: int | None = None
    """From the schedule's ``jobTimeout``; the Job fails with DeadlineExceeded after it."""
    secret_env: dict[str, SecretKeyRef] = {}
    """Agent environment variables filled from Secrets, so ``{env: NAME}`` credential
    references resolve inside the pod."""
    resources: dict[str, Any] | None = None
    affinity: dict[str, Any] | None = None
    tolerations: tuple[dict[str, Any], ...] | None = None
    node_selector: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    """Added to the Job's pod template."""
    sidecar_port: int | None = None
    """Kubernetes: physical backups pull the engine's stream over mTLS from the
    ``shardkeeper agent serve`` sidecar of the source pod, at
    ``https://<instance host>:<sidecar_port>/backup``; None: the Job runs the engine itself."""
    sidecar_tls_secret: str | None = None
    """Secret with the backup Job's client certificate for the sidecar: keys ``tls.crt``,
    ``tls.key`` and ``ca.crt`` (the CA of the sidecar's server certificate). Required with
    ``sidecar_port``; the keys reach the agent through ``secretKeyRef`` variables only."""
