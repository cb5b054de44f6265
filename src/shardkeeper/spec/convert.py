"""Spec documents to wire contracts (what the schedule's action carries)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter

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
    Instance,
    Role,
    S3Credentials,
    S3Location,
    SecretKeyRef,
    ShardTopology,
    Topology,
    TopologySource,
)
from shardkeeper.spec.base import ValueFrom, parse_duration
from shardkeeper.spec.cluster import Cluster
from shardkeeper.spec.destination import S3Spec
from shardkeeper.spec.executor import executor_config
from shardkeeper.spec.load import Loaded, SpecSet
from shardkeeper.spec.schedule import BackupSchedule, BackupScheduleSpec

# How many future fire times are inspected to find a cron schedule's shortest gap.
_CRON_SAMPLES = 64


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
    )


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


def strategies_of(spec: BackupScheduleSpec) -> tuple[StrategyPlan, ...]:
    """Strategy contracts of a schedule."""
    return tuple(
        StrategyPlan(name=s.name, scope=Scope(s.scope), keyspace=s.keyspace, shard=s.shard)
        for s in spec.strategies
    )


def period_seconds(spec: BackupScheduleSpec, *, now: datetime | None = None) -> int:
    """The schedule's period: its frequency, or the shortest gap between cron fire times."""
    if spec.frequency is not None:
        return parse_duration(spec.frequency)
    if spec.schedule is None:  # pragma: no cover - the model requires one of the two
        raise ValueError("schedule or frequency required")
    start = (now or datetime.now(UTC)).astimezone(ZoneInfo(spec.time_zone))
    it = croniter(spec.schedule, start)
    fires = [it.get_next(datetime) for _ in range(_CRON_SAMPLES)]
    return int(min((b - a).total_seconds() for a, b in itertools.pairwise(fires)))


def stagger_window_seconds(spec: BackupScheduleSpec) -> int:
    """The stagger window: as set (capped at the period), else the whole period."""
    period = period_seconds(spec)
    if spec.stagger_window is None:
        return period
    return min(parse_duration(spec.stagger_window), period)


def excluded_keyspaces(specs: SpecSet, cluster: str, schedule: str) -> tuple[str, ...]:
    """Keyspaces owned by Keyspace strategies of the cluster's other active schedules."""
    owned: set[str] = set()
    for loaded in specs.schedules:
        other = loaded.resource
        if not isinstance(other, BackupSchedule) or other.spec.cluster != cluster:
            continue
        if other.metadata.name == schedule or other.spec.suspend:
            continue
        owned |= {s.keyspace for s in other.spec.strategies if s.scope == "Keyspace" and s.keyspace}
    return tuple(sorted(owned))


def run_input(schedule: Loaded, specs: SpecSet) -> BackupRunInput:
    """The BackupRun input a schedule's Temporal Schedule starts its runs with.

    The topology is read from the Cluster document's file at every run (so editing that file
    for a reshard needs no re-apply).
    """
    sched = schedule.resource
    if not isinstance(sched, BackupSchedule):  # pragma: no cover - callers pass schedules
        raise TypeError("expected a BackupSchedule")
    cluster_doc = specs.clusters[sched.spec.cluster]
    spec = sched.spec
    policy = BackupPolicy(
        destination=s3_location(spec.destination.s3),
        engine=spec.engine,
        target=spec.target,
        max_replica_lag_seconds=parse_duration(spec.max_replica_lag),
        executor=executor_config(spec.executor),
        retention=Retention(
            keep_last=spec.retention.keep_last, retention_days=spec.retention.retention_days
        ),
        successful_jobs_history_limit=spec.successful_jobs_history_limit,
        failed_jobs_history_limit=spec.failed_jobs_history_limit,
        job_timeout_seconds=parse_duration(spec.job_timeout) if spec.job_timeout else None,
    )
    return BackupRunInput(
        cluster=spec.cluster,
        schedule=sched.metadata.name,
        topology_source=TopologySource(
            kind="file", cluster=spec.cluster, path=str(cluster_doc.path.resolve())
        ),
        strategies=strategies_of(spec),
        policy=policy,
        excluded_keyspaces=excluded_keyspaces(specs, spec.cluster, sched.metadata.name),
        stagger_window_seconds=stagger_window_seconds(spec),
    )
