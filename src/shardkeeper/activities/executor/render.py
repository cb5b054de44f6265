"""A ``JobSpec`` as a Kubernetes ``batch/v1`` Job, built from the official client's models.

Pure functions, no API calls: ``kubernetes/`` sends what this module renders, and tests
check the rendering without a server.

How the agent contract (``base.py``) maps onto a pod:

- **Request**: stored in the pod template's annotation ``shardkeeper.io/request`` and
  projected into ``/etc/shardkeeper/request/request.json`` by a downward-API volume. No
  second object (ConfigMap) to create, own and garbage-collect, and no RBAC for one. The
  request holds credential *references* only; ``{secret: …}`` references are rewritten to
  ``{env: SHARDKEEPER_SECRET_…}`` with the variable filled by ``valueFrom.secretKeyRef``,
  so the secret reaches the pod through the kubelet and never the Job object.
- **Report / error**: the agent writes them to an ``emptyDir``; a small shell wrapper copies
  whichever exists into the termination-message file after the agent exits. The agent's
  atomic write (temp file + rename in the same directory) cannot target
  ``/dev/termination-log`` itself: that file is a bind mount (rename onto it fails with
  EBUSY) in a directory (``/dev``) a non-root agent cannot create files in.
  ``terminationMessagePolicy: FallbackToLogsOnError`` makes the kubelet use the log tail
  when the agent died without writing either file.
- **Progress**: the agent's stdout JSON lines, read back from the pod log.
- **Sidecar** (``ExecutorConfig.sidecar_port``): a physical backup request is rewritten
  before rendering (:func:`attach_sidecar`) to name the source pod's ``agent serve`` sidecar
  (``https://<source host>:<port>/backup``) and the client certificate as ``{secret: …}``
  references into ``sidecar_tls_secret``, which then reach the pod like every other Secret
  reference. The workflow builds the request without knowing the executor; delivering it
  the way the pod can use is the executor's job. The Job then needs no access to the
  datadir: the agent streams what the sidecar sends.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any, Final

from kubernetes.client import (
    V1Affinity,
    V1Container,
    V1DownwardAPIVolumeFile,
    V1DownwardAPIVolumeSource,
    V1EmptyDirVolumeSource,
    V1EnvVar,
    V1EnvVarSource,
    V1Job,
    V1JobSpec,
    V1ObjectFieldSelector,
    V1ObjectMeta,
    V1PodFailurePolicy,
    V1PodFailurePolicyOnExitCodesRequirement,
    V1PodFailurePolicyRule,
    V1PodSpec,
    V1PodTemplateSpec,
    V1ResourceRequirements,
    V1SecretKeySelector,
    V1Toleration,
    V1Volume,
    V1VolumeMount,
)

from shardkeeper.activities.executor.base import (
    ERROR_FILE_ENV,
    EXIT_PERMANENT,
    REPORT_FILE_ENV,
    REQUEST_FILE_ENV,
    JobSpec,
)
from shardkeeper.contracts.agent import AgentBackupRequest, SidecarRef
from shardkeeper.contracts.common import CredentialRef, ExecutorConfig, SecretKeyRef
from shardkeeper.datapath.engines import ENGINES
from shardkeeper.errors import JobRejected

CONTAINER: Final = "agent"
REQUEST_ANNOTATION: Final = "shardkeeper.io/request"
RAW_LABELS_ANNOTATION: Final = "shardkeeper.io/labels"
"""The labels as the caller gave them (label values must be encoded, see ``label_value``)."""
MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "shardkeeper"}
REQUEST_DIR: Final = "/etc/shardkeeper/request"
OUTPUT_DIR: Final = "/var/run/shardkeeper"
TERMINATION_LOG: Final = "/dev/termination-log"
TERMINATION_LOG_ENV: Final = "SHARDKEEPER_TERMINATION_LOG"
SIDECAR_PATH: Final = "/backup"
SIDECAR_TLS_KEYS: Final = {"ca": "ca.crt", "cert": "tls.crt", "key": "tls.key"}
"""SidecarRef field → key of ``ExecutorConfig.sidecar_tls_secret`` (kubernetes.io/tls + CA)."""
SECRET_ENV_PREFIX: Final = "SHARDKEEPER_SECRET_"  # noqa: S105 - a variable name prefix
# The kubelet keeps at most 4096 bytes of a termination message.
TERMINATION_MESSAGE_MAX: Final = 4096
# SIGTERM → SIGKILL: the agent aborts its multipart upload on SIGTERM, which takes a moment.
GRACE_SECONDS: Final = 30

# Runs the agent as a child so that, after it exits, its report or error file can be copied
# into the termination-message file; forwards SIGTERM so the agent still aborts its upload.
WRAPPER: Final = (
    'trap \'kill -TERM "$pid" 2>/dev/null\' TERM INT\n'
    '"$@" &\n'
    "pid=$!\n"
    'wait "$pid"; rc=$?\n'
    # wait returns early (>128) when a trapped signal arrives: wait again for the real code
    'while kill -0 "$pid" 2>/dev/null; do wait "$pid"; rc=$?; done\n'
    'for f in "$SHARDKEEPER_REPORT_FILE" "$SHARDKEEPER_ERROR_FILE"; do\n'
    '  if [ -s "$f" ]; then cat "$f" > "$SHARDKEEPER_TERMINATION_LOG"; fi\n'
    "done\n"
    'exit "$rc"\n'
)

_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_VALUE_MAX = 63


def label_value(raw: str) -> str:
    """Encode ``raw`` as a valid label value, injectively and deterministically.

    Valid values stay as they are. Others (shard ``-80``, ``80-``, ``-``) get their
    invalid characters replaced, a leading or trailing non-alphanumeric turned into ``x``
    (``-80`` → ``x80``) and a hash of the raw value appended (``x80_1b2c3d4e``), so no two
    raw values share an encoding and a selector built from the same function finds them.
    The raw value is kept in an annotation for display.
    """
    if len(raw) <= _LABEL_VALUE_MAX and _LABEL_VALUE_RE.match(raw):
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    clean = re.sub(r"[^A-Za-z0-9_.-]", "-", raw)
    clean = re.sub(r"^[^A-Za-z0-9]", "x", clean)
    clean = re.sub(r"[^A-Za-z0-9]$", "x", clean)
    return f"{clean[: _LABEL_VALUE_MAX - len(digest) - 1]}_{digest}"


def encode_labels(labels: dict[str, str]) -> dict[str, str]:
    """Every value through ``label_value``."""
    return {key: label_value(value) for key, value in labels.items()}


def label_selector(labels: dict[str, str]) -> str:
    """The equality selector matching Jobs rendered with ``labels`` (and only ours)."""
    wanted = {**MANAGED_BY, **encode_labels(labels)}
    return ",".join(f"{key}={value}" for key, value in sorted(wanted.items()))


def secret_env_name(ref: SecretKeyRef) -> str:
    """The agent variable that carries a ``{secret: …}`` reference's value."""
    digest = hashlib.sha256(f"{ref.name}\x00{ref.key}".encode()).hexdigest()[:12].upper()
    return SECRET_ENV_PREFIX + digest


def rewrite_secret_refs(request_json: str) -> tuple[str, dict[str, SecretKeyRef]]:
    """Turn ``{secret: {name, key}}`` credential references into ``{env: NAME}``.

    Args:
        request_json: The agent request (any shape: every object whose only non-null
            field is a ``secret`` object with ``name`` and ``key`` is a reference).

    Returns:
        The rewritten request and the variables to fill from Secrets.
    """
    found: dict[str, SecretKeyRef] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        secret = node.get("secret")
        others = [v for k, v in node.items() if k != "secret" and v is not None]
        if isinstance(secret, dict) and not others and set(secret) == {"name", "key"}:
            ref = SecretKeyRef(name=str(secret["name"]), key=str(secret["key"]))
            name = secret_env_name(ref)
            found[name] = ref
            return {"env": name, "file": None, "secret": None}
        return {key: walk(value) for key, value in node.items()}

    rewritten = walk(json.loads(request_json))
    return json.dumps(rewritten, separators=(",", ":")), found


AGENT_MODULE: Final = "shardkeeper.agent"
"""The agent's slim entry point, as activities start it (``python -m shardkeeper.agent …``)."""


def pod_argv(argv: list[str], agent_command: tuple[str, ...]) -> list[str]:
    """The agent command as the image runs it.

    Activities build argv for the worker's host (``python -m shardkeeper.agent backup``, or
    the older ``python -m shardkeeper agent backup``); what is portable is the agent command
    and its arguments, prefixed with how the image starts the CLI (``shardkeeper agent …``
    goes to the same slim entry point).
    """
    if AGENT_MODULE in argv:
        return [*agent_command, "agent", *argv[argv.index(AGENT_MODULE) + 1 :]]
    if "shardkeeper" in argv:
        return [*agent_command, *argv[argv.index("shardkeeper") + 1 :]]
    return list(argv)


def _is_backup(argv: list[str]) -> bool:
    """Whether ``argv`` runs ``… agent backup`` (or ``… shardkeeper.agent backup``)."""
    return any(argv[i : i + 2] in (["agent", "backup"], [AGENT_MODULE, "backup"])
               for i in range(len(argv) - 1))


def attach_sidecar(spec: JobSpec, config: ExecutorConfig) -> JobSpec:
    """``spec`` with its backup request pointed at the source pod's sidecar, when configured.

    Only physical backups (an xbstream engine) change, and only when ``config.sidecar_port``
    is set and the request names no sidecar yet; everything else is returned as it is.

    Raises:
        JobRejected: A sidecar is configured but no ``sidecar_tls_secret``, or the source
            instance has no host to reach it at.
    """
    if config.sidecar_port is None or not _is_backup(spec.argv):
        return spec
    request = AgentBackupRequest.model_validate_json(spec.request_json)
    engine = ENGINES.get(request.engine)
    if request.sidecar is not None or engine is None or engine().format != "xbstream":
        return spec
    if not config.sidecar_tls_secret:
        raise JobRejected(
            f"job {spec.name}: executor.sidecarPort is set but no sidecarTlsSecret names "
            "the backup Job's client certificate"
        )
    host = request.source.host
    if not host:
        raise JobRejected(
            f"job {spec.name}: source instance {request.source.name} has no host, so its "
            "sidecar cannot be reached (pod discovery sets it from the pod's IP or DNS name)"
        )
    refs = {
        field: CredentialRef(secret=SecretKeyRef(name=config.sidecar_tls_secret, key=key))
        for field, key in SIDECAR_TLS_KEYS.items()
    }
    address = f"[{host}]" if ":" in host else host  # an IPv6 pod IP
    sidecar = SidecarRef(
        url=f"https://{address}:{config.sidecar_port}{SIDECAR_PATH}", **refs
    )
    rewritten = request.model_copy(update={"sidecar": sidecar})
    return dataclasses.replace(spec, request_json=rewritten.model_dump_json())


def _secret_var(name: str, ref: SecretKeyRef) -> V1EnvVar:
    return V1EnvVar(
        name=name,
        value_from=V1EnvVarSource(
            secret_key_ref=V1SecretKeySelector(name=ref.name, key=ref.key, optional=False)
        ),
    )


def render_job(spec: JobSpec, config: ExecutorConfig) -> V1Job:
    """The Job that runs ``spec`` under ``config``.

    Args:
        spec: The agent job (name, argv, request, labels, extra environment).
        config: The Kubernetes executor's settings.

    Returns:
        The Job model, ready for ``create_namespaced_job``.

    Raises:
        ValueError: ``config`` names no image.
        JobRejected: See :func:`attach_sidecar`.
    """
    if not config.image:
        raise ValueError("the Kubernetes executor needs an image")
    spec = attach_sidecar(spec, config)
    request_json, secret_refs = rewrite_secret_refs(spec.request_json)
    labels = {**encode_labels(spec.labels), **MANAGED_BY}
    raw_labels = json.dumps(spec.labels, sort_keys=True, separators=(",", ":"))
    pod_spec = _pod_spec(config, _agent_container(spec, config, config.image, secret_refs))
    return V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=V1ObjectMeta(
            name=spec.name,
            namespace=config.namespace,
            labels=labels,
            annotations={RAW_LABELS_ANNOTATION: raw_labels},
        ),
        spec=V1JobSpec(
            backoff_limit=config.backoff_limit,
            active_deadline_seconds=config.active_deadline_seconds,
            ttl_seconds_after_finished=config.ttl_seconds_after_finished,
            pod_failure_policy=_pod_failure_policy() if config.backoff_limit else None,
            template=V1PodTemplateSpec(
                metadata=V1ObjectMeta(
                    labels=labels,
                    annotations={
                        **(config.annotations or {}),
                        RAW_LABELS_ANNOTATION: raw_labels,
                        REQUEST_ANNOTATION: request_json,
                    },
                ),
                spec=pod_spec,
            ),
        ),
    )


def _agent_container(
    spec: JobSpec, config: ExecutorConfig, image: str, secret_refs: dict[str, SecretKeyRef]
) -> V1Container:
    """The agent's container: the wrapper script, the contract's files and environment."""
    env = [
        V1EnvVar(name=REQUEST_FILE_ENV, value=f"{REQUEST_DIR}/request.json"),
        V1EnvVar(name=REPORT_FILE_ENV, value=f"{OUTPUT_DIR}/report.json"),
        V1EnvVar(name=ERROR_FILE_ENV, value=f"{OUTPUT_DIR}/error.json"),
        V1EnvVar(name=TERMINATION_LOG_ENV, value=TERMINATION_LOG),
        *(V1EnvVar(name=k, value=v) for k, v in sorted(spec.env.items())),
        *(_secret_var(k, ref) for k, ref in sorted(config.secret_env.items())),
        *(_secret_var(k, ref) for k, ref in sorted(secret_refs.items())),
    ]
    return V1Container(
        name=CONTAINER,
        image=image,
        image_pull_policy=config.image_pull_policy,
        command=["/bin/sh", "-c", WRAPPER, "shardkeeper-agent"],
        args=pod_argv(spec.argv, config.agent_command),
        env=env,
        resources=(
            V1ResourceRequirements.model_validate(config.resources) if config.resources else None
        ),
        volume_mounts=[
            V1VolumeMount(name="request", mount_path=REQUEST_DIR, read_only=True),
            V1VolumeMount(name="output", mount_path=OUTPUT_DIR),
        ],
        termination_message_path=TERMINATION_LOG,
        termination_message_policy="FallbackToLogsOnError",
    )


def _pod_spec(config: ExecutorConfig, container: V1Container) -> V1PodSpec:
    """The pod around the agent: placement from ``config``, the request and output volumes."""
    return V1PodSpec(
        restart_policy="Never",
        service_account_name=config.service_account_name,
        # the agent talks to MariaDB and S3, never to the API server
        automount_service_account_token=False,
        termination_grace_period_seconds=GRACE_SECONDS,
        containers=[container],
        node_selector=config.node_selector,
        affinity=V1Affinity.model_validate(config.affinity) if config.affinity else None,
        tolerations=(
            [V1Toleration.model_validate(t) for t in config.tolerations]
            if config.tolerations is not None
            else None
        ),
        volumes=[
            V1Volume(
                name="request",
                downward_api=V1DownwardAPIVolumeSource(
                    items=[
                        V1DownwardAPIVolumeFile(
                            path="request.json",
                            field_ref=V1ObjectFieldSelector(
                                field_path=f"metadata.annotations['{REQUEST_ANNOTATION}']"
                            ),
                        )
                    ]
                ),
            ),
            V1Volume(name="output", empty_dir=V1EmptyDirVolumeSource()),
        ],
    )


def _pod_failure_policy() -> V1PodFailurePolicy:
    """A permanent agent failure (exit 2) fails the Job at once: a retry cannot help."""
    return V1PodFailurePolicy(
        rules=[
            V1PodFailurePolicyRule(
                action="FailJob",
                on_exit_codes=V1PodFailurePolicyOnExitCodesRequirement(
                    container_name=CONTAINER, operator="In", values=[EXIT_PERMANENT]
                ),
            )
        ]
    )


def raw_labels(metadata: Any) -> dict[str, str]:
    """The caller's labels of a Job (from the annotation; the labels themselves if absent)."""
    annotations = getattr(metadata, "annotations", None) or {}
    text = annotations.get(RAW_LABELS_ANNOTATION)
    if text:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return {str(k): str(v) for k, v in data.items()}
    labels = getattr(metadata, "labels", None) or {}
    return {k: v for k, v in labels.items() if k not in MANAGED_BY}
