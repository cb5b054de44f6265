"""Spec documents to wire contracts (what the schedule's action carries).

One module, not split: every converter maps camelCase document fields onto the same
snake_case contracts, and a field added to a spec is added here next to its siblings.
Split by document kind (schedule, backup, cluster) when it grows further.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from shardkeeper import naming
from shardkeeper.contracts.agent import CompressionSpec as CompressionContract
from shardkeeper.contracts.agent import EncryptionSpec as EncryptionContract
from shardkeeper.contracts.backup import (
    BackupPolicy,
    BackupRunInput,
    Retention,
    Scope,
    StrategyPlan,
)
from shardkeeper.contracts.common import (
    CredentialRef,
    DatabaseCredentials,
    Destination,
    FilesystemLocation,
    Instance,
    Role,
    S3Credentials,
    S3Location,
    SecretKeyRef,
    ShardTopology,
    Topology,
    TopologySource,
)
from shardkeeper.errors import SpecInvalid
from shardkeeper.spec.backup import Backup
from shardkeeper.spec.base import ValueFrom, parse_duration
from shardkeeper.spec.cluster import Cluster
from shardkeeper.spec.destination import DestinationSpec, S3Spec
from shardkeeper.spec.executor import executor_config
from shardkeeper.spec.load import Loaded, SpecSet
from shardkeeper.spec.pod import PodSettingsSpec
from shardkeeper.spec.schedule import (
    BackupSchedule,
    BackupScheduleSpec,
    CompressionSpec,
    EncryptionSpec,
    RetentionSpec,
    check_databases,
    cron_line,
    frequency_seconds,
    job_timeout_seconds,
)

# A cron schedule's period is its shortest gap between fire times in wall-clock time, from a
# fixed reference and enough samples to see every month length, so it is the same whatever
# the date and zone (a DST day's 23 h gap must not change every shard's offset).
_CRON_REFERENCE = datetime(2000, 1, 1)
_CRON_SAMPLES = 800


def credential_ref(ref: ValueFrom) -> CredentialRef:
    """A spec ``{env|file|secret}`` reference as a contract."""
    secret = SecretKeyRef(name=ref.secret.name, key=ref.secret.key) if ref.secret else None
    return CredentialRef(env=ref.env, file=ref.file, secret=secret)


def s3_location(spec: S3Spec) -> S3Location:
    """The S3 destination contract of a spec."""
    creds = None
    if spec.credentials is not None:
        creds = S3Credentials(
            access_key_id=credential_ref(spec.credentials.access_key_id),
            secret_access_key=credential_ref(spec.credentials.secret_access_key),
        )
    return S3Location(
        bucket=spec.bucket,
        prefix=spec.prefix.strip("/"),
        endpoint=spec.endpoint,
        region=spec.region,
        force_path_style=spec.force_path_style,
        credentials=creds,
        ca_bundle=spec.ca_bundle,
        insecure_skip_verify=spec.insecure_skip_verify,
        storage_class=spec.storage_class,
        sse=spec.server_side_encryption,
        sse_kms_key_id=spec.sse_kms_key_id,
        signature_version=spec.signature_version,
    )


def destination_of(spec: DestinationSpec) -> Destination:
    """The destination contract of a spec: its S3 bucket or its directory."""
    if spec.filesystem is not None:
        return FilesystemLocation(
            path=spec.filesystem.path, prefix=spec.filesystem.prefix.strip("/")
        )
    if spec.s3 is None:  # pragma: no cover - the spec requires exactly one
        raise ValueError("destination needs 's3' or 'filesystem'")
    return s3_location(spec.s3)


def compression_of(spec: CompressionSpec | None) -> CompressionContract | None:
    """The compression contract of a spec (None: store the stream as the engine wrote it)."""
    if spec is None:
        return None
    return CompressionContract(algorithm=spec.algorithm, level=spec.level)


def encryption_of(spec: EncryptionSpec | None) -> EncryptionContract | None:
    """The encryption contract of a spec: the key by reference only."""
    if spec is None:
        return None
    return EncryptionContract(key=credential_ref(spec.key_from))


def topology_of(cluster: Cluster) -> Topology:
    """The topology contract of a Cluster document."""
    shards = tuple(
        ShardTopology(
            keyspace=ks.name,
            shard=sh.name,
            instances=tuple(
                Instance(
                    name=i.name, role=Role(i.role), host=i.host, port=i.port, socket=i.socket,
                    datadir=i.datadir, start_command=tuple(i.start_command or ()),
                    systemd_unit=i.systemd_unit,
                )
                for i in sh.instances
            ),
        )
        for ks in cluster.spec.keyspaces
        for sh in ks.shards
    )
    pw = cluster.spec.credentials.password_from
    return Topology(
        cluster=cluster.metadata.name,
        shards=shards,
        credentials=DatabaseCredentials(
            user=cluster.spec.credentials.user, password=credential_ref(pw) if pw else None
        ),
    )


def inline_topology(cluster_doc: Loaded) -> TopologySource:
    """The Cluster document embedded in a run's input (``kind: inline``)."""
    res = cluster_doc.resource
    if not isinstance(res, Cluster):  # pragma: no cover - SpecSet.clusters holds clusters
        raise TypeError("expected a Cluster")
    return TopologySource(kind="inline", cluster=res.metadata.name, topology=topology_of(res))


def strategies_of(spec: BackupScheduleSpec) -> tuple[StrategyPlan, ...]:
    """Strategy contracts of a schedule."""
    return tuple(
        StrategyPlan(
            name=s.name,
            scope=Scope(s.scope),
            keyspace=s.keyspace,
            shard=s.shard,
            extra_flags=dict(s.extra_flags),
        )
        for s in spec.strategies
    )


def period_seconds(spec: BackupScheduleSpec) -> int:
    """The schedule's period: its frequency, or the shortest gap between cron fire times.

    Deterministic: independent of today's date and of the time zone (see ``_CRON_REFERENCE``).
    """
    if spec.frequency is not None:
        return frequency_seconds(spec.frequency)
    if spec.schedule is None:  # pragma: no cover - the model requires one of the two
        raise ValueError("schedule or frequency required")
    it = croniter(cron_line(spec.schedule), _CRON_REFERENCE)
    fires = [it.get_next(datetime) for _ in range(_CRON_SAMPLES)]
    return int(min((b - a).total_seconds() for a, b in itertools.pairwise(fires)))


def stagger_window_seconds(spec: BackupScheduleSpec) -> int:
    """The stagger window: as set (capped at the period), else the whole period."""
    period = period_seconds(spec)
    if spec.stagger_window is None:
        return period
    return min(parse_duration(spec.stagger_window), period)


@dataclass(frozen=True)
class KeyspaceOwner:
    """A Keyspace-scope strategy that takes its keyspace out of Cluster-scope strategies."""

    keyspace: str
    schedule: str
    strategy: str


def keyspace_owners_of(specs: SpecSet, cluster: str) -> list[KeyspaceOwner]:
    """Keyspace strategies of the cluster's active (not suspended) schedules, in file order."""
    owners: list[KeyspaceOwner] = []
    for loaded in specs.schedules:
        sched = loaded.resource
        if not isinstance(sched, BackupSchedule) or sched.spec.cluster != cluster:
            continue
        if sched.spec.suspend:
            continue  # a paused schedule backs nothing up, so it must not take anything away
        owners.extend(
            KeyspaceOwner(s.keyspace, sched.metadata.name, s.name)
            for s in sched.spec.strategies
            if s.scope == "Keyspace" and s.keyspace
        )
    return owners


def excluded_keyspaces(specs: SpecSet, cluster: str, schedule: str) -> tuple[str, ...]:
    """Keyspaces owned by Keyspace strategies of the cluster's other active schedules.

    The schedule's own Keyspace strategies exclude too, but ``scopes.expand`` sees those.
    """
    owned = {o.keyspace for o in keyspace_owners_of(specs, cluster) if o.schedule != schedule}
    return tuple(sorted(owned))


def _pod_settings(spec: PodSettingsSpec) -> dict[str, Any]:
    """Kubernetes pod settings in the Kubernetes API's own (camelCase) form."""
    return {
        "resources": spec.resources.model_dump(by_alias=True) if spec.resources else {},
        "affinity": (
            spec.affinity.model_dump(by_alias=True, exclude_defaults=True)
            if spec.affinity else None
        ),
        "tolerations": tuple(
            t.model_dump(by_alias=True, exclude_none=True) for t in spec.tolerations
        ),
        "node_selector": dict(spec.node_selector),
        "annotations": dict(spec.annotations),
    }


def _retention(spec: RetentionSpec) -> Retention:
    return Retention(keep_last=spec.keep_last, retention_days=spec.retention_days)


def policy_of(spec: BackupScheduleSpec) -> BackupPolicy:
    """The BackupPolicy contract of a schedule."""
    return BackupPolicy(
        destination=destination_of(spec.destination),
        engine=spec.engine,
        databases=tuple(spec.databases or ()),
        compression=compression_of(spec.compression),
        encryption=encryption_of(spec.encryption),
        target=spec.target,
        max_replica_lag_seconds=parse_duration(spec.max_replica_lag),
        readiness=spec.readiness,
        executor=executor_config(
            spec.executor,
            job_timeout_seconds=job_timeout_seconds(spec.job_timeout),
            **_pod_settings(spec),
        ),
        retention=_retention(spec.retention),
        successful_jobs_history_limit=spec.successful_jobs_history_limit,
        failed_jobs_history_limit=spec.failed_jobs_history_limit,
        job_timeout_seconds=job_timeout_seconds(spec.job_timeout),
        concurrency_policy=spec.concurrency_policy,
        max_concurrent_shards=spec.max_concurrent_shards,
        starting_deadline_seconds=spec.starting_deadline_seconds,
        allow_first_backup=spec.allow_first_backup,
        **_pod_settings(spec),
    )


def run_input(schedule: Loaded, specs: SpecSet) -> BackupRunInput:
    """The BackupRun input a schedule's Temporal Schedule starts its runs with.

    The Cluster document travels inline (its topology, credentials by reference only), never
    as a path on the applying machine, so a worker anywhere can run it; a reshard is
    re-applied like a schedule. Keyspace ownership is decided when each run starts, from the
    schedules that exist then; ``excluded_keyspaces`` records what the given files say (what
    ``plan`` shows, and what a worker older than run-time ownership uses).
    """
    sched = schedule.resource
    if not isinstance(sched, BackupSchedule):  # pragma: no cover - callers pass schedules
        raise TypeError("expected a BackupSchedule")
    cluster_doc = specs.clusters[sched.spec.cluster]
    spec = sched.spec
    return BackupRunInput(
        cluster=spec.cluster,
        schedule=sched.metadata.name,
        topology_source=inline_topology(cluster_doc),
        strategies=strategies_of(spec),
        policy=policy_of(spec),
        excluded_keyspaces=excluded_keyspaces(specs, spec.cluster, sched.metadata.name),
        keyspace_owners_at_run_time=True,
        stagger_window_seconds=stagger_window_seconds(spec),
        first_backup=spec.first_backup,
    )


def defaults_schedule(backup: Loaded, specs: SpecSet) -> Loaded | None:
    """The schedule a Backup takes its defaults from: named, else the cluster's only one.

    Raises:
        SpecInvalid: ``spec.schedule`` names no schedule of the cluster in the given files.
    """
    res = backup.resource
    if not isinstance(res, Backup):  # pragma: no cover - callers pass backups
        raise TypeError("expected a Backup")
    mine = [
        s for s in specs.schedules
        if isinstance(s.resource, BackupSchedule) and s.resource.spec.cluster == res.spec.cluster
    ]
    if res.spec.schedule is None:
        return mine[0] if len(mine) == 1 else None
    for s in mine:
        if s.resource.metadata.name == res.spec.schedule:
            return s
    known = ", ".join(s.resource.metadata.name for s in mine) or "none"
    raise SpecInvalid(
        f"{backup.where}: spec.schedule: no BackupSchedule {res.spec.schedule!r} of cluster "
        f"{res.spec.cluster!r} in the given files; schedules of that cluster: {known}"
    )


def backup_policy_of(backup: Loaded, specs: SpecSet) -> BackupPolicy:
    """A Backup's policy: its own fields over its defaults schedule's over the defaults.

    Raises:
        SpecInvalid: no destination (none set, and no single schedule to take it from).
    """
    res = backup.resource
    if not isinstance(res, Backup):  # pragma: no cover - callers pass backups
        raise TypeError("expected a Backup")
    spec = res.spec
    source = defaults_schedule(backup, specs)
    base: BackupPolicy | None = None
    if source is not None and isinstance(source.resource, BackupSchedule):
        base = policy_of(source.resource.spec)
    if spec.destination is None and base is None:
        raise SpecInvalid(
            f"{backup.where}: spec.destination: required field is missing; set it, or name a "
            "BackupSchedule of the cluster in spec.schedule to take it from"
        )
    own: dict[str, Any] = {}
    if spec.destination is not None:
        own["destination"] = destination_of(spec.destination)
    if spec.engine is not None:
        own["engine"] = spec.engine
        if spec.engine != (base.engine if base else "mariabackup"):
            own["databases"] = ()  # the schedule's database list belongs to its engine
    if spec.databases is not None:
        engine = spec.engine or (base.engine if base else "mariabackup")
        try:
            check_databases(engine, spec.databases)
        except ValueError as err:
            raise SpecInvalid(f"{backup.where}: spec.databases: {err}") from None
        own["databases"] = tuple(spec.databases)
    if spec.compression is not None:
        own["compression"] = compression_of(spec.compression)
    if spec.encryption is not None:
        own["encryption"] = encryption_of(spec.encryption)
    if spec.target is not None:
        own["target"] = spec.target
    if spec.max_replica_lag is not None:
        own["max_replica_lag_seconds"] = parse_duration(spec.max_replica_lag)
    if spec.readiness is not None:
        own["readiness"] = spec.readiness
    if spec.job_timeout is not None:
        own["job_timeout_seconds"] = job_timeout_seconds(spec.job_timeout)
    if spec.retention is not None:
        own["retention"] = _retention(spec.retention)
    if spec.executor is not None:
        own["executor"] = executor_config(
            spec.executor,
            job_timeout_seconds=job_timeout_seconds(spec.job_timeout) if spec.job_timeout else None,
            **_pod_settings(spec),
        )
    pod = _pod_settings(spec)
    own.update({k: v for k, v in pod.items() if v})  # unset pod settings inherit
    if base is None:
        return BackupPolicy(**own)
    return base.model_copy(update=own)


def backup_run_input(
    backup: Loaded,
    specs: SpecSet,
    *,
    backup_id_suffix: str | None,
    now: datetime | None = None,
) -> BackupRunInput:
    """A one-shot Backup as the input of one manually started BackupRun.

    The strategy's scope follows from the fields set: shard → Shard, keyspace → Keyspace,
    neither → Cluster (every keyspace: Keyspace strategies of schedules exclude nothing from a
    backup asked for by hand). Every shard starts at once (stagger window 0).

    Args:
        backup: a loaded ``kind: Backup`` document (or one built from CLI options).
        specs: the documents it refers to (its Cluster, its defaults schedule).
        backup_id_suffix: when set, the backup id is ``now`` in UTC plus this suffix
            (``20261122T020000Z-<suffix>``); when None the workflow derives it from its start
            time and workflow id.
        now: the time the id is built from (default: the current time).

    Raises:
        SpecInvalid: unknown cluster, or no destination to back up to.
    """
    res = backup.resource
    if not isinstance(res, Backup):  # pragma: no cover - callers pass backups
        raise TypeError("expected a Backup")
    spec = res.spec
    cluster_doc = specs.clusters.get(spec.cluster)
    if cluster_doc is None:
        known = ", ".join(sorted(specs.clusters)) or "none (pass the Cluster file too)"
        raise SpecInvalid(
            f"{backup.where}: spec.cluster: unknown cluster {spec.cluster!r}; "
            f"clusters in the given files: {known}"
        )
    if spec.shard is not None:
        scope = Scope.SHARD
    elif spec.keyspace is not None:
        scope = Scope.KEYSPACE
    else:
        scope = Scope.CLUSTER
    strategy = StrategyPlan(
        name=res.metadata.name,
        scope=scope,
        keyspace=spec.keyspace,
        shard=spec.shard,
        extra_flags=dict(spec.extra_flags),
    )
    backup_id = None
    if backup_id_suffix is not None:
        backup_id = naming.backup_id_for(now or datetime.now(UTC), backup_id_suffix)
    return BackupRunInput(
        cluster=spec.cluster,
        schedule=res.metadata.name,
        topology_source=inline_topology(cluster_doc),
        strategies=(strategy,),
        policy=backup_policy_of(backup, specs),
        excluded_keyspaces=(),
        keyspace_owners_at_run_time=False,
        stagger_window_seconds=0,
        backup_id=backup_id,
    )
