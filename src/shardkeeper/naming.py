"""Every derived identifier in one place: schedule, workflow, job and backup ids, object keys.

Ids must be stable across retries and replays (a retried activity targets the same job and
the same object keys), so everything here is a pure function of its arguments.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

SCHEDULE_PREFIX = "shardkeeper"
BACKUP_OBJECT = "backup.xbstream"
MANIFEST_OBJECT = "metadata.json"
BACKUP_ID_FORMAT = "%Y%m%dT%H%M%SZ"
_BACKUP_ID_RE = re.compile(r"^\d{8}T\d{6}Z(-[a-z0-9]+)?$")
_DNS_LABEL_MAX = 63


def schedule_id(cluster: str, schedule: str) -> str:
    """Temporal Schedule id of a BackupSchedule."""
    return f"{SCHEDULE_PREFIX}/{cluster}/{schedule}"


def run_workflow_id(cluster: str, schedule: str) -> str:
    """Workflow id prefix of scheduled BackupRun workflows (Temporal appends the fire time)."""
    return f"{SCHEDULE_PREFIX}/{cluster}/{schedule}/run"


def shard_workflow_id(
    cluster: str, schedule: str, backup_id: str, keyspace: str, shard: str, strategy: str
) -> str:
    """Child workflow id: one per (schedule, shard, strategy, slot), never two for one slot."""
    return f"{SCHEDULE_PREFIX}/{cluster}/{schedule}/{backup_id}/{keyspace}/{shard}/{strategy}"


def backup_id_for(scheduled_at: datetime, manual_suffix: str | None = None) -> str:
    """Backup id from the scheduled (nominal) time; manual runs get a suffix of their own."""
    base = scheduled_at.astimezone(UTC).strftime(BACKUP_ID_FORMAT)
    return f"{base}-{manual_suffix}" if manual_suffix else base


def is_backup_id(value: str) -> bool:
    """Whether ``value`` has the shape of a backup id."""
    return bool(_BACKUP_ID_RE.match(value))


def manual_suffix(workflow_id: str) -> str:
    """Short stable suffix for a manually started run, derived from its workflow id."""
    return "m" + hashlib.sha256(workflow_id.encode()).hexdigest()[:8]


def shard_prefix(prefix: str, cluster: str, keyspace: str, shard: str) -> str:
    """Object-store prefix holding every backup of one shard (ends with '/')."""
    parts = [p for p in (prefix.strip("/"), cluster, keyspace, shard) if p]
    return "/".join(parts) + "/"


def backup_prefix(prefix: str, cluster: str, keyspace: str, shard: str, backup_id: str) -> str:
    """Object-store prefix of one backup (ends with '/')."""
    return f"{shard_prefix(prefix, cluster, keyspace, shard)}{backup_id}/"


def backup_key(
    prefix: str,
    cluster: str,
    keyspace: str,
    shard: str,
    backup_id: str,
    object_name: str = BACKUP_OBJECT,
) -> str:
    """Key of the backup stream object.

    ``object_name`` is the stream's file name (``contracts.agent.stream_object_name``:
    ``backup.xbstream``, ``backup.sql.zst.enc`` …); the default is the plain physical stream.
    """
    return backup_prefix(prefix, cluster, keyspace, shard, backup_id) + object_name


def manifest_key(prefix: str, cluster: str, keyspace: str, shard: str, backup_id: str) -> str:
    """Key of metadata.json, the commit record of a backup."""
    return backup_prefix(prefix, cluster, keyspace, shard, backup_id) + MANIFEST_OBJECT


def dns_label(*parts: str, max_length: int = _DNS_LABEL_MAX) -> str:
    """A DNS-1123 label built from ``parts``, length-capped with a hash suffix.

    The hash covers the original parts, so two inputs that sanitise to the same text
    (``-80`` and ``80-`` both lose a dash) still get different names.
    """
    raw = "-".join(parts)
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:8]
    clean = re.sub(r"[^a-z0-9-]+", "-", raw.lower())
    clean = re.sub(r"-{2,}", "-", clean).strip("-") or "x"
    room = max_length - len(digest) - 1
    return f"{clean[:room].rstrip('-')}-{digest}"


def job_name(
    cluster: str,
    schedule: str,
    keyspace: str,
    shard: str,
    strategy: str,
    backup_id: str,
    attempt: int = 1,
) -> str:
    """Executor job name: deterministic per (schedule, shard, strategy, slot, attempt).

    A retried launch activity computes the same name and attaches to the existing job; only
    the workflow's own decision to try the backup again (a new ``attempt``) makes a new job.
    """
    return dns_label(
        "sk", cluster, schedule, keyspace, shard, strategy, backup_id.lower(), f"a{attempt}"
    )


def budget_workflow_id(cluster: str) -> str:
    """Id of the cluster's ClusterBudget entity workflow (one per cluster)."""
    return f"{SCHEDULE_PREFIX}/{cluster}/budget"
