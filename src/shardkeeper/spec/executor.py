"""``spec.executor``: which executor runs the backup agent, and its settings."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from shardkeeper.contracts.common import ExecutorConfig, KubernetesAccess, SecretKeyRef
from shardkeeper.spec.base import (
    INT32_MAX,
    PATH_FORM,
    NotBool,
    SecretKeySelector,
    SpecModel,
    absolute_path,
    dns_label,
    dns_subdomain,
    path_problem,
)

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# registry[:port]/path[:tag][@sha256:digest]: what a container runtime accepts, and nothing
# that a log line or a YAML rendering could misread
_IMAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,510}", re.ASCII)


def _image(value: str) -> str:
    if not _IMAGE_RE.fullmatch(value) or ".." in value or "//" in value:
        raise ValueError(
            f"invalid image {value!r}: use an image reference such as "
            "ghcr.io/shardkeeper/shardkeeper:0.1.0 (letters, digits, '.', '_', '-', '/', ':' "
            "and '@')"
        )
    return value


def _kubeconfig(value: str) -> str:
    problem = path_problem("/" + value[2:] if value.startswith("~/") else value)
    if problem:
        raise ValueError(
            f"invalid kubeconfig {value!r}: {problem}; use {PATH_FORM}, or one under '~/' "
            "(e.g. ~/.kube/config)"
        )
    return value


def _agent_argv(value: list[str]) -> list[str]:
    if not value[0] or value[0].startswith("-") or any(not arg.isprintable() for arg in value):
        raise ValueError(
            "invalid agentCommand: the first element is the program and no argument holds a "
            "line break, tab or NUL (e.g. [shardkeeper] or [python, -m, shardkeeper])"
        )
    return value


_KUBERNETES_ONLY = (
    "namespace", "image", "image_pull_policy", "service_account_name", "kubeconfig",
    "context", "in_cluster", "agent_command", "backoff_limit", "ttl_seconds_after_finished",
    "secret_env", "sidecar_port", "sidecar_tls_secret",
)


class ExecutorSpec(SpecModel):
    """Which executor runs the backup agent.

    ``local`` (default): a detached process on the worker's host. ``kubernetes``: one
    ``batch/v1`` Job per shard backup, created by the worker in ``namespace``.
    """

    kind: Literal["local", "kubernetes"] = "local"
    jobs_dir: Annotated[
        str, absolute_path("jobsDir", "/var/lib/shardkeeper/jobs")] | None = None
    """Local executor: where job state lives (default: the worker's jobs directory)."""
    namespace: Annotated[str, dns_label("namespace")] | None = None
    """Kubernetes: namespace of the Jobs (default ``default``)."""
    image: Annotated[str, AfterValidator(_image)] | None = None
    """Kubernetes: the shardkeeper image (holds the agent and mariadb-backup); required."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    service_account_name: Annotated[str, dns_subdomain("serviceAccountName")] | None = None
    """Kubernetes: the agent pods' service account (they need no API access)."""
    kubeconfig: Annotated[str, AfterValidator(_kubeconfig)] | None = None
    """Kubernetes: kubeconfig file of the worker; default in-cluster, else ~/.kube/config."""
    context: str | None = None
    in_cluster: bool | None = None
    agent_command: Annotated[
        list[str], Field(min_length=1), AfterValidator(_agent_argv)] | None = None
    """Kubernetes: how the image starts the CLI (default ``[shardkeeper]``)."""
    backoff_limit: Annotated[int, NotBool, Field(ge=0, le=INT32_MAX)] | None = None
    """Kubernetes: pod retries inside one Job (default 0: the workflow decides)."""
    ttl_seconds_after_finished: Annotated[int, NotBool, Field(ge=0, le=INT32_MAX)] | None = None
    """Kubernetes: let the cluster delete finished Jobs (default: history limits only)."""
    secret_env: dict[Annotated[str, Field(pattern=_ENV_NAME)], SecretKeySelector] = {}
    """Kubernetes: agent environment variables from Secret keys, so that ``{env: NAME}``
    credential references resolve inside the Job's pod."""
    sidecar_port: Annotated[int, NotBool, Field(ge=1, le=65535)] | None = None
    """Kubernetes: pull physical backups from the source pod's ``shardkeeper agent serve``
    sidecar at ``https://<instance host>:<port>/backup`` (mutual TLS)."""
    sidecar_tls_secret: Annotated[str, dns_subdomain("sidecarTlsSecret")] | None = None
    """Kubernetes: Secret with the Job's client certificate (``tls.crt``, ``tls.key``,
    ``ca.crt``); required with ``sidecarPort``."""

    @model_validator(mode="after")
    def _fields_of_kind(self) -> ExecutorSpec:
        if self.kind == "local":
            given = [f for f in _KUBERNETES_ONLY if f in self.model_fields_set]
            if given:
                raise ValueError(f"only for kind 'kubernetes': {', '.join(given)}")
        else:
            if self.jobs_dir is not None:
                raise ValueError("'jobsDir' is only for kind 'local'")
            if not self.image:
                raise ValueError("kind 'kubernetes' needs 'image'")
            if (self.sidecar_port is None) != (self.sidecar_tls_secret is None):
                raise ValueError("'sidecarPort' and 'sidecarTlsSecret' go together")
        return self


def executor_config(
    spec: ExecutorSpec,
    *,
    job_timeout_seconds: int | None = None,
    resources: dict[str, Any] | None = None,
    affinity: dict[str, Any] | None = None,
    tolerations: Sequence[dict[str, Any]] | None = None,
    node_selector: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> ExecutorConfig:
    """The wire form of an executor spec.

    Args:
        spec: The schedule's ``executor``.
        job_timeout_seconds: The schedule's ``jobTimeout``; a Kubernetes Job's
            ``activeDeadlineSeconds``.
        resources: Pod placement from the schedule (Kubernetes JSON, camelCase), rendered
            into the Job's pod template when the executor is ``kubernetes``.
        affinity: See ``resources``.
        tolerations: See ``resources``.
        node_selector: See ``resources``.
        annotations: See ``resources``.
    """
    if spec.kind == "local":
        return ExecutorConfig(kind="local", jobs_dir=spec.jobs_dir)
    return ExecutorConfig(
        kind="kubernetes",
        access=KubernetesAccess(
            kubeconfig=spec.kubeconfig, context=spec.context, in_cluster=bool(spec.in_cluster)
        ),
        namespace=spec.namespace or "default",
        image=spec.image,
        image_pull_policy=spec.image_pull_policy,
        service_account_name=spec.service_account_name,
        agent_command=tuple(spec.agent_command or ("shardkeeper",)),
        backoff_limit=spec.backoff_limit or 0,
        ttl_seconds_after_finished=spec.ttl_seconds_after_finished,
        active_deadline_seconds=job_timeout_seconds,
        secret_env={
            name: SecretKeyRef(name=ref.name, key=ref.key) for name, ref in spec.secret_env.items()
        },
        resources=resources or None,
        affinity=affinity,
        tolerations=tuple(tolerations) if tolerations is not None else None,
        node_selector=node_selector or None,
        annotations=annotations or None,
        sidecar_port=spec.sidecar_port,
        sidecar_tls_secret=spec.sidecar_tls_secret,
    )
