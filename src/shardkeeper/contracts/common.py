"""Shared building blocks: credential references, object-store locations, topology."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Tag, model_validator

from shardkeeper.contracts.base import Contract


class SecretKeyRef(Contract):
    """A key inside a Kubernetes Secret."""

    name: str
    """Name of the Secret, in the namespace of the job or worker that reads it."""
    key: str
    """Key inside the Secret's ``data``."""


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
    """Reference to the access key id."""
    secret_access_key: CredentialRef
    """Reference to the secret access key."""


class S3Location(Contract):
    """An S3-compatible bucket and prefix, with how to reach it."""

    kind: Literal["s3"] = "s3"
    """Discriminator of :data:`Destination`; optional on the wire (absent means s3)."""
    bucket: str
    """Bucket name; it must exist (backups never create a bucket)."""
    prefix: str = ""
    """Key prefix under which every cluster's backups live; empty: the bucket root."""
    endpoint: str | None = None
    """e.g. http://127.0.0.1:8333; None means the AWS default for the region."""
    region: str = "us-east-1"
    """Region of the bucket, also used to sign requests."""
    force_path_style: bool = False
    """Address the bucket as ``<endpoint>/<bucket>`` (most S3-compatible stores) rather than as a
    virtual host."""
    credentials: S3Credentials | None = None
    """None: the standard AWS credential chain of the process (environment, instance role)."""
    ca_bundle: str | None = None
    """Path of a PEM bundle trusted for the endpoint's TLS certificate; None: the system store."""
    insecure_skip_verify: bool = False
    """Skip TLS certificate verification (test stores only)."""
    storage_class: str | None = None
    """S3 storage class of the backup objects (e.g. ``STANDARD_IA``); None: the bucket's."""
    sse: Literal["AES256", "aws:kms"] | None = None
    """Server-side encryption requested on every object written; None: the bucket default."""
    sse_kms_key_id: str | None = None
    """KMS key id or ARN when ``sse`` is ``aws:kms`` (an identifier, not a secret)."""
    signature_version: Literal["v4", "v2"] = "v4"
    """Request signing: v4 (SigV4, the default) or v2 (botocore's legacy ``s3`` signer)."""


class FilesystemLocation(Contract):
    """A directory (a mounted volume) holding backups in the object-store layout.

    Keys map to paths below ``path``: ``<path>/<prefix>/<cluster>/<keyspace>/<shard>/<id>/…``.
    """

    kind: Literal["filesystem"] = "filesystem"
    """Discriminator of :data:`Destination`; required for a filesystem location."""
    path: str
    """Absolute directory; created when missing."""
    prefix: str = ""
    """Key prefix below ``path``; empty: backups start directly under it."""


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
    """Instance name, unique in its cluster (job names and reports use it)."""
    role: Role
    """Role in the shard: ``primary`` or ``replica``."""
    host: str | None = None
    """Host name or IP address; None when reached by ``socket``."""
    port: int | None = None
    """TCP port of mariadbd; None when reached by ``socket``."""
    socket: str | None = None
    """Unix socket path; set instead of ``host`` and ``port`` on the same host."""
    datadir: str | None = None
    """Data directory on the instance's host; needed for a physical restore in place."""
    start_command: tuple[str, ...] = ()
    """argv that starts the instance after a restore stopped it; empty: not declared."""
    systemd_unit: str | None = None
    """Alternatively the systemd unit that runs it (``systemctl start UNIT``)."""


class DatabaseCredentials(Contract):
    """Database account used for readiness checks and the backup engine."""

    user: str = "root"
    """Database account name."""
    password: CredentialRef | None = None
    """The account's password, by reference; None: no password."""


class ShardTopology(Contract):
    """One shard: its keyspace, name and instances."""

    keyspace: str
    """Keyspace name."""
    shard: str
    """Vitess key range of the shard: ``-``, ``-80``, ``80-``, ``40-80``."""
    instances: tuple[Instance, ...]
    """Every instance of the shard (one primary, any number of replicas)."""


class Topology(Contract):
    """A cluster as discovered at run time."""

    cluster: str
    """Cluster name (the first path segment of every backup key)."""
    shards: tuple[ShardTopology, ...]
    """Every shard of every keyspace."""
    credentials: DatabaseCredentials = DatabaseCredentials()
    """Database account of the whole cluster (readiness checks, engines, restores)."""

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
    """Namespace whose pods are listed."""
    label_selector: str | None = None
    """Extra selector (``app=mariadb``) ANDed with the cluster label."""
    cluster_label: str = "shardkeeper.io/cluster"
    """Label whose value is the cluster name."""
    keyspace_label: str = "shardkeeper.io/keyspace"
    """Label whose value is the keyspace name."""
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
    """Database account used with the discovered instances."""


class TopologySource(Contract):
    """Where ``resolve_shards`` reads the topology at every run.

    ``inline``: the Cluster document's topology, embedded by ``apply`` (and by ``backup
    now``), so a worker on another machine needs no file of the applying one; a reshard is
    re-applied like a schedule. ``file``: a YAML file holding a ``kind: Cluster`` document on
    the worker's host, read at run time (schedules applied before ``inline`` existed, and
    restores). ``kubernetes``: the pods the API server lists now.
    """

    kind: Literal["file", "inline", "kubernetes"]
    """``file``, ``inline`` or ``kubernetes`` (see the class description)."""
    cluster: str
    """Name of the cluster whose topology is read."""
    path: str | None = None
    """``file`` only: path of the Cluster document on the worker's host."""
    topology: Topology | None = None
    """``inline`` only: the topology snapshot."""
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
    """``local`` (a process on the worker's host) or ``kubernetes`` (a Job)."""
    jobs_dir: str | None = None
    """Local executor: the jobs directory; None means the worker's configured default."""
    access: KubernetesAccess = KubernetesAccess()
    """Kubernetes: how the worker reaches the API server."""
    namespace: str = "default"
    """Kubernetes: namespace of the Jobs."""
    image: str | None = None
    """Agent image (Kubernetes); required there."""
    image_pull_policy: str | None = None
    """Kubernetes: ``imagePullPolicy`` of the agent container; None: the cluster default."""
    service_account_name: str | None = None
    """Kubernetes: service account of the Job's pod; None: the namespace default."""
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
    """Kubernetes: ``ResourceRequirements`` of the agent container (camelCase)."""
    affinity: dict[str, Any] | None = None
    """Kubernetes: ``Affinity`` of the Job's pod (camelCase)."""
    tolerations: tuple[dict[str, Any], ...] | None = None
    """Kubernetes: ``Toleration`` objects of the Job's pod (camelCase)."""
    node_selector: dict[str, str] | None = None
    """Kubernetes: node labels the Job's pod must match."""
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
