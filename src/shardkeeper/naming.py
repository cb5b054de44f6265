"""Every derived identifier in one place: schedule, workflow, job and backup ids, object keys.

Ids must be stable across retries and replays (a retried activity targets the same job and
the same object keys), so everything here is a pure function of its arguments. Over 400
lines on purpose: one place is the point (two derivations of one key are how a layout
drifts), and each function is a few lines; it splits by aspect (workflow ids, keys, job
names) once one of them grows.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from shardkeeper.errors import SpecInvalid

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


def first_backup_workflow_id(cluster: str, schedule: str) -> str:
    """Workflow id of the run ``firstBackup: immediate`` starts at apply (one at a time)."""
    return f"{SCHEDULE_PREFIX}/{cluster}/{schedule}/first-backup"


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


def first_backup_suffix(workflow_id: str) -> str:
    """Suffix of a first-backup run's id: not a manual one (its backups are the schedule's)."""
    return "f" + hashlib.sha256(workflow_id.encode()).hexdigest()[:8]


def shard_prefix(prefix: str, cluster: str, keyspace: str, shard: str) -> str:
    """Object-store prefix holding every backup of one shard (ends with '/')."""
    parts = [p for p in (prefix.strip("/"), cluster, keyspace, shard) if p]
    return "/".join(parts) + "/"


def backup_prefix(prefix: str, cluster: str, keyspace: str, shard: str, backup_id: str) -> str:
    """Object-store prefix of one backup (ends with '/').

    ``backup_id`` is the backup's directory (:func:`backup_dir`): the bare id in the old layout.
    """
    return f"{shard_prefix(prefix, cluster, keyspace, shard)}{backup_id}/"


# Backup directories. Before per-schedule keys a backup's directory under the shard was its
# id, so two schedules (or a Cluster and a Shard strategy) firing at one nominal time into one
# bucket shared keys. Now it is ``<backup_id>_<tag>``, the tag built from (schedule, strategy);
# ``_`` never occurs in a backup id, so the id is what comes before the first ``_``. Directories
# starting with ``_`` (``_cleanup``) are side records, never backups.
_TAG_SLUG_MAX = 40
_TAG_HASH_CHARS = 6
_MANUAL_ID_RE = re.compile(r"-m[0-9a-f]{8}$")
CLEANUP_DIR = "_cleanup"
VERIFY_DIR = "_verify"


def schedule_tag(schedule: str | None, strategy: str | None) -> str:
    """Readable slug of (schedule, strategy) plus a short hash of both (unique per pair)."""
    raw = f"{schedule or ''}.{strategy or ''}"
    digest = hashlib.sha256(f"{schedule or ''}\x00{strategy or ''}".encode()).hexdigest()
    slug = re.sub(r"[^a-z0-9.-]+", "-", raw.lower()).strip("-.")[:_TAG_SLUG_MAX] or "x"
    return f"{slug}-{digest[:_TAG_HASH_CHARS]}"


def backup_dir(backup_id: str, schedule: str | None = None, strategy: str | None = None) -> str:
    """Directory of one backup under its shard: ``<backup_id>_<tag>``.

    Without a schedule, the bare id (the layout before per-schedule keys).
    """
    if schedule is None and strategy is None:
        return backup_id
    return f"{backup_id}_{schedule_tag(schedule, strategy)}"


def split_backup_dir(directory: str) -> tuple[str, str | None]:
    """``(backup_id, tag)`` of a backup directory; tag None for the old layout."""
    backup_id, sep, tag = directory.partition("_")
    return backup_id, (tag if sep else None)


def is_side_record_dir(directory: str) -> bool:
    """Whether a directory under a shard holds side records (``_cleanup``), not a backup."""
    return directory.startswith("_")


def is_manual_backup_id(backup_id: str) -> bool:
    """Whether ``backup_id`` carries a manual run's suffix (see :func:`manual_suffix`)."""
    return bool(_MANUAL_ID_RE.search(backup_id))


def cleanup_record_key(prefix: str, cluster: str, keyspace: str, shard: str, tag: str) -> str:
    """Key of the last-cleanup record of one (schedule, strategy) on one shard."""
    return f"{shard_prefix(prefix, cluster, keyspace, shard)}{CLEANUP_DIR}/{tag}.json"


def verify_record_key(prefix: str, cluster: str, keyspace: str, shard: str,
                      directory: str) -> str:
    """Key of the last verdict of ``backups verify`` on one backup directory."""
    return f"{shard_prefix(prefix, cluster, keyspace, shard)}{VERIFY_DIR}/{directory}.json"


def verify_job_name(cluster: str, keyspace: str, shard: str, directory: str, run: str) -> str:
    """Executor job name of one verify job (one per backup per VerifyBackups run)."""
    return dns_label("skv", cluster, keyspace, shard_label(shard), directory.lower(), run)


def manifest_key_beside(object_key: str) -> str:
    """Key of the metadata.json in the same directory as ``object_key`` (any layout)."""
    return object_key.rpartition("/")[0] + "/" + MANIFEST_OBJECT


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


def schedule_id_parts(schedule_id: str) -> tuple[str, str] | None:
    """``(cluster, schedule)`` of a shardkeeper Schedule id; None for any other schedule."""
    prefix, sep, rest = schedule_id.partition("/")
    cluster, sep2, schedule = rest.partition("/")
    if prefix != SCHEDULE_PREFIX or not sep or not sep2 or "/" in schedule:
        return None
    return cluster, schedule


def manual_run_workflow_id(cluster: str, name: str) -> str:
    """Workflow id of a one-shot BackupRun (``backup now``, a ``kind: Backup`` document).

    One per backup name and cluster; its backup id suffix is ``manual_suffix`` of this id.
    """
    return f"{SCHEDULE_PREFIX}/{cluster}/manual/{name}"


def manual_backup_name(now: datetime) -> str:
    """Name of a ``backup now --cluster`` request: ``now-<UTC second, lowercase>``."""
    return "now-" + now.astimezone(UTC).strftime("%Y%m%dt%H%M%S")


# --- Restore ids and paths. Derived from the restore's name (workflow ids, so the CLI, the
# workflow and other languages find the same run) or from one run's key (job names and
# directories, so a second restore of the same name never reuses the first one's leftovers).
_RESTORE_KEY_CHARS = 10


def restore_workflow_id(cluster: str, name: str) -> str:
    """Workflow id of a Restore: ``shardkeeper/<cluster>/restore/<name>``."""
    return f"{SCHEDULE_PREFIX}/{cluster}/restore/{name}"


def generated_restore_name(token: str) -> str:
    """Name of a restore started from flags without ``--name``: ``restore-<token>``."""
    return f"restore-{token}"


def is_restore_workflow_of(workflow_id: str, name: str) -> bool:
    """Whether ``workflow_id`` is the Restore named ``name`` of some cluster."""
    parts = workflow_id.split("/")
    return len(parts) == 4 and parts[0] == SCHEDULE_PREFIX and parts[2:] == ["restore", name]


def shard_restore_workflow_id(cluster: str, name: str, keyspace: str, shard: str) -> str:
    """Workflow id of a ShardRestore child."""
    return f"{restore_workflow_id(cluster, name)}/{keyspace}/{shard}"


def restore_key(workflow_id: str, run_id: str) -> str:
    """A short key unique to one restore run (directory suffixes, job names)."""
    digest = hashlib.sha256(f"{workflow_id}\x00{run_id}".encode()).hexdigest()
    return "r" + digest[:_RESTORE_KEY_CHARS]


def restore_job_name(cluster: str, keyspace: str, shard: str, instance: str, key: str) -> str:
    """Executor job name of one instance's restore (DNS-1123, deterministic per restore)."""
    return dns_label("skr", cluster, keyspace, shard, instance, key)


def aside_path(datadir: str, key: str) -> str:
    """Where the current datadir is moved aside to (same filesystem: a rename)."""
    return f"{datadir.rstrip('/')}.sk-aside-{key}"


def journal_path(datadir: str, key: str) -> str:
    """The set-aside journal (JSON ``DatadirRecord``) beside the datadir."""
    return f"{aside_path(datadir, key)}.json"


def staging_path(datadir: str, key: str) -> str:
    """Where the agent stages (downloads, extracts, prepares) before moving into the datadir."""
    return f"{datadir.rstrip('/')}.sk-staging-{key}"


# --- User names: the one grammar every document field that names something accepts. -------
# Names reach Temporal ids (``/``-separated), object keys and directories (a destination may be
# a filesystem), Kubernetes Job names and labels, and log lines. So a name is plain ASCII
# without separators, whitespace, control or shell characters, and never ``.``/``..`` as a
# path segment; everything derived from it (job names, label values) is escaped here or in the
# executor, never passed through raw.
USER_NAME_MAX = 63
_NAME_FORMS = {
    # metadata.name and references to it: a Kubernetes object name (DNS-1123 subdomain) capped
    # at 63, as every seed's metadata.name is.
    "name": (re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?", re.ASCII),
             "lowercase letters, digits, '-' and '.', starting and ending with a letter or "
             "digit (a Kubernetes object name, e.g. 'nightly' or 'daily-backup')"),
    # Strategy names: vitess-operator takes any string (seed 000 'customer-80-', seed 001
    # 'BackupShard', its examples 'commerce_x'); this is that, minus what is unsafe.
    "strategy": (re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9_-])?", re.ASCII),
                 "letters, digits, '-', '_' and '.', starting with a letter or digit and not "
                 "ending with '.' (e.g. 'all-shards', 'customer-80-', 'BackupShard')"),
    "keyspace": (re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", re.ASCII),
                 "lowercase letters, digits, '_' and '-', not starting or ending with '-' "
                 "(a Vitess keyspace name, e.g. 'customer')"),
    # A Vitess key range of lowercase hex; '0' is the legacy name of an unsharded shard.
    "shard": (re.compile(r"-|[0-9a-f]{0,31}-[0-9a-f]{0,31}|0", re.ASCII),
              "a Vitess key range of lowercase hex such as '-' (unsharded), '-80', '80-' or "
              "'40-80' (start before end), or '0'"),
}
USER_NAME_RE = _NAME_FORMS["strategy"][0]
"""The widest user-name form (strategy names); the others are subsets of it."""
USER_NAME_KINDS = tuple(_NAME_FORMS)


def _name_problem(kind: str, value: str) -> str | None:
    """Why ``value`` is not a ``kind`` name (the most specific reason), or None."""
    pattern, _ = _NAME_FORMS[kind]
    if pattern.fullmatch(value):
        if kind == "shard":
            start, _sep, end = value.partition("-")
            # key ranges compare as left-aligned hex strings: '40' < '8' < '80' < 'c0'
            return "the range's start is not before its end" if start and end and start >= end \
                else None
        return "'..' is not allowed" if ".." in value else None
    if not value:
        return "it is empty"
    if len(value) > USER_NAME_MAX:
        return f"it is {len(value)} characters long (at most {USER_NAME_MAX})"
    if not value.isascii():
        return "only ASCII characters are allowed (no look-alike letters)"
    if any(not c.isprintable() for c in value):
        return "control characters are not allowed"
    if any(c.isspace() for c in value):
        return "whitespace is not allowed"
    if "/" in value or "\\" in value:
        return "path separators are not allowed"
    bad = sorted({c for c in value if not (c.isalnum() or c in "-_.")})
    if bad:
        return f"{' '.join(repr(c) for c in bad)} not allowed"
    return None  # the form's own text says what is wrong (case, first or last character)


def check_user_name(kind: str, value: str) -> None:
    """Refuse ``value`` unless it is a valid user name of ``kind``.

    Args:
        kind: ``name`` (metadata.name, cluster and schedule references), ``strategy``,
            ``keyspace`` or ``shard``.
        value: The name as written in the document.

    Raises:
        SpecInvalid: naming the kind, the value, the reason and the accepted form.
    """
    if not isinstance(value, str):
        raise SpecInvalid(f"invalid {kind} name {value!r}: not a string")
    pattern, form = _NAME_FORMS[kind]
    problem = _name_problem(kind, value)
    if problem is None and pattern.fullmatch(value):
        return
    label = "name" if kind == "name" else f"{kind} name"
    reason = f": {problem}" if problem else ""
    raise SpecInvalid(f"invalid {label} {value!r}{reason}; use {form}")


def shard_label(shard: str) -> str:
    """The readable, DNS-safe spelling of a key range: an open end becomes ``x``.

    As vitess-operator spells shards in pod and backup names (seed 000): ``-80`` → ``x-80``,
    ``80-`` → ``80-x``, ``-`` → ``x-x``, ``40-80`` stays, ``0`` stays.
    """
    if "-" not in shard:
        return shard
    start, _, end = shard.partition("-")
    return f"{start or 'x'}-{end or 'x'}"


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
        "sk", cluster, schedule, keyspace, shard_label(shard), strategy, backup_id.lower(),
        f"a{attempt}",
    )


def budget_workflow_id(cluster: str) -> str:
    """Id of the cluster's ClusterBudget entity workflow (one per cluster)."""
    return f"{SCHEDULE_PREFIX}/{cluster}/budget"


def job_labels(
    cluster: str,
    schedule: str,
    keyspace: str,
    shard: str,
    *,
    strategy: str | None = None,
    backup_id: str | None = None,
) -> dict[str, str]:
    """Labels of a shard's backup jobs; without strategy and backup id, the pruning selector.

    Pruning lists a shard's jobs by the first four labels, so every backup job carries them.
    """
    labels = {
        "shardkeeper.io/cluster": cluster,
        "shardkeeper.io/schedule": schedule,
        "shardkeeper.io/keyspace": keyspace,
        "shardkeeper.io/shard": shard,
    }
    if strategy is not None:
        labels["shardkeeper.io/strategy"] = strategy
    if backup_id is not None:
        labels["shardkeeper.io/backup-id"] = backup_id
    return labels


def restore_job_labels(cluster: str, restore_name: str) -> dict[str, str]:
    """Labels of a restore's agent jobs (one per instance)."""
    return {"shardkeeper.io/cluster": cluster, "shardkeeper.io/restore": restore_name}
