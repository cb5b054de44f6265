"""``kind: BackupSchedule``: when and what to back up, and where to."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shardkeeper.spec import aliases
from shardkeeper.spec.base import (
    API_VERSION,
    MAX_DURATION_SECONDS,
    Duration,
    KeyspaceName,
    Metadata,
    Name,
    NotBool,
    SpecModel,
    StrategyName,
    ValueFrom,
    parse_duration,
)
from shardkeeper.spec.cluster import ShardName
from shardkeeper.spec.destination import DestinationSpec
from shardkeeper.spec.executor import ExecutorSpec
from shardkeeper.spec.flags import ExtraFlags
from shardkeeper.spec.pod import PodSettingsSpec

MIN_FREQUENCY_SECONDS = 60
MAX_FREQUENCY_SECONDS = 31 * 86400
FREQUENCY_EXAMPLES = "1m, 30m, 45m, 90m, 6h, 24h, 48h, 7d"
# Spelled out because Temporal and croniter must agree on what a macro means.
MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
CRON_MACROS = tuple(MACROS)
# What both Temporal's cron parser and croniter read the same way: numbers, names, '*', ranges,
# lists and steps. croniter's extensions (L, W, #, ?, H) are refused: Temporal rejects them.
_CRON_NUMERIC = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?$")
_CRON_NAMED = re.compile(r"^(\*|(\d+|[A-Za-z]{3})(-(\d+|[A-Za-z]{3}))?)(/\d+)?$")
MIN_STARTING_DEADLINE_SECONDS = 10
MAX_STARTING_DEADLINE_SECONDS = MAX_DURATION_SECONDS
# Upper bounds: far above any real use, low enough for every int the values reach (Temporal
# durations, Kubernetes int32 fields, datetime arithmetic) to hold them.
MAX_KEEP_LAST = 10_000
MAX_RETENTION_DAYS = 36_500
MAX_CONCURRENT_SHARDS = 10_000
MAX_HISTORY_LIMIT = 1_000


def cron_line(schedule: str) -> str:
    """The 5-field cron line of a ``schedule`` (macros expanded)."""
    return MACROS.get(schedule.strip(), schedule.strip())


def frequency_seconds(value: str) -> int:
    """Seconds of a ``frequency``.

    Raises:
        ValueError: with the reason and the accepted examples.
    """
    text = value.strip()
    suffix = f"use whole minutes from 1m to 31d (examples: {FREQUENCY_EXAMPLES})"
    if text.startswith("-"):
        raise ValueError(f"invalid frequency {value!r}: must be positive; {suffix}")
    try:
        seconds = parse_duration(text, bounded=False)
    except ValueError:
        raise ValueError(f"invalid frequency {value!r}: not a duration; {suffix}") from None
    if seconds == 0:
        reason = "must be positive"
    elif seconds < MIN_FREQUENCY_SECONDS:
        reason = "shorter than 1m"
    elif seconds % 60:
        reason = "not a whole number of minutes"
    elif seconds > MAX_FREQUENCY_SECONDS:
        reason = "longer than 31d"
    else:
        return seconds
    raise ValueError(f"invalid frequency {value!r}: {reason}; {suffix}")


def _job_timeout(value: object) -> object:
    # `jobTimeout: -1` (the vitess-operator spelling) disables the timeout, as unset does.
    if value in (-1, "-1"):
        return "-1"
    if not isinstance(value, str):
        raise ValueError(f"invalid jobTimeout {value!r}: use a duration such as 2h, or -1")
    if parse_duration(value) == 0:
        raise ValueError(f"invalid jobTimeout {value!r}: must be positive, or -1 to disable")
    return value


JobTimeout = Annotated[str, BeforeValidator(_job_timeout)]


def job_timeout_seconds(value: str | None) -> int | None:
    """Seconds of a ``jobTimeout``; None when unset or ``-1`` (disabled)."""
    if value is None or value == "-1":
        return None
    return parse_duration(value)


def _target_alias(value: object) -> object:
    # cloudnative-mysql's name (seed 002) for the same rule: a healthy standby, else the primary.
    return "prefer-replica" if value == "prefer-standby" else value


Target = Annotated[Literal["prefer-replica", "primary"], BeforeValidator(_target_alias)]
Readiness = Literal["source", "all-tablets"]


class StrategySpec(SpecModel):
    """Which shards a strategy covers."""

    name: StrategyName
    """Unique in the schedule; any seed name ('customer-80-', 'BackupShard' with
    ``keyspaceShard`` becomes '<keyspace>-<shard as x-80>')."""
    scope: Literal["Shard", "Keyspace", "Cluster"] = "Shard"
    """Shard: one shard (keyspace and shard); Keyspace: all its shards; Cluster: all shards."""
    keyspace: KeyspaceName | None = None
    shard: ShardName | None = None
    extra_flags: ExtraFlags = {}
    """Options passed to the backup engine, e.g. {use-memory: 1G}."""

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        return aliases.keyspace_shard(data)

    @model_validator(mode="after")
    def _scope_fields(self) -> StrategySpec:
        if self.scope == "Shard" and (self.keyspace is None or self.shard is None):
            raise ValueError("scope 'Shard' needs both 'keyspace' and 'shard'")
        if self.scope == "Keyspace" and (self.keyspace is None or self.shard is not None):
            raise ValueError("scope 'Keyspace' needs 'keyspace' and forbids 'shard'")
        if self.scope == "Cluster" and (self.keyspace is not None or self.shard is not None):
            raise ValueError("scope 'Cluster' forbids 'keyspace' and 'shard'")
        return self


class RetentionSpec(SpecModel):
    """How long verified backups are kept; the newest one of a shard is never deleted."""

    keep_last: Annotated[int, NotBool, Field(ge=1, le=MAX_KEEP_LAST)] | None = None
    """Keep at least this many newest backups per shard (1 to 10000)."""
    retention_days: Annotated[int, NotBool, Field(ge=1, le=MAX_RETENTION_DAYS)] = 7
    """Keep backups this many days (1 to 36500)."""


MIN_ZSTD_LEVEL = 1
MAX_ZSTD_LEVEL = 19
ENGINES = ("mariabackup", "logical")
Engine = Literal["mariabackup", "logical"]
_DB_NAME = re.compile(r"[^/\\.`\x00-\x1f\x7f]{1,64}")


def _zstd_level(value: int) -> int:
    if not MIN_ZSTD_LEVEL <= value <= MAX_ZSTD_LEVEL:
        raise ValueError(
            f"invalid zstd level {value}: use {MIN_ZSTD_LEVEL} (fastest) to "
            f"{MAX_ZSTD_LEVEL} (smallest)"
        )
    return value


def database_name(value: str) -> str:
    """Validate one ``databases`` name: 1-64 characters, no (back)slash, dot, backquote, NUL."""
    if not _DB_NAME.fullmatch(value):
        raise ValueError(
            f"invalid database name {value!r}: 1 to 64 characters without '/', '\\', '.', "
            "'`', NUL or control characters"
        )
    return value


class CompressionSpec(SpecModel):
    """Streaming compression of the backup stream (before encryption)."""

    algorithm: Literal["zstd"] = "zstd"
    level: Annotated[int, NotBool, AfterValidator(_zstd_level)] = 1
    """1 (fastest, the default) to 19 (smallest)."""


class EncryptionSpec(SpecModel):
    """Client-side encryption of the stored stream: AES-256-GCM in authenticated chunks."""

    key_from: ValueFrom
    """32 random bytes, base64-encoded, by reference (``{env|file|secret}``); recorded in
    metadata.json by key id only, never the key."""


class BackupPolicySpec(PodSettingsSpec):
    """How a shard is backed up: shared by BackupSchedule and Backup."""

    destination: DestinationSpec
    engine: Engine = "mariabackup"
    """mariabackup (physical, the default) or logical (mariadb-dump)."""
    databases: list[Annotated[str, AfterValidator(database_name)]] | None = None
    """Logical engine only: the databases to dump (unset: all but the system ones)."""
    compression: CompressionSpec | None = None
    encryption: EncryptionSpec | None = None
    target: Target = "prefer-replica"
    """prefer-replica (alias prefer-standby): the least-lagged healthy replica within
    maxReplicaLag, else the primary; primary: always the primary."""
    max_replica_lag: Duration = "5m"
    """A replica further behind than this (or stopped, or unreachable) is passed over."""
    readiness: Readiness = "source"
    """source: back up from whatever healthy source ``target`` allows; all-tablets: skip the
    shard unless every replica is healthy (the vitess operator's rule)."""
    job_timeout: JobTimeout | None = None
    """Measured from the real start of the backup; unset or -1 disables."""
    retention: RetentionSpec = RetentionSpec()
    executor: ExecutorSpec = ExecutorSpec()
    allow_first_backup: bool = True
    """Physical engines: back up a shard that has no committed backup yet. False: such a
    shard is skipped until one exists (as vtbackup's --allow_first_backup=false)."""

    @model_validator(mode="before")
    @classmethod
    def _object_store(cls, data: Any) -> Any:
        return aliases.object_store_field(data)

    @field_validator("databases")
    @classmethod
    def _databases_need_logical(
        cls, value: list[str] | None, info: ValidationInfo
    ) -> list[str] | None:
        # ``engine`` is declared first, so it is validated (or failed) already
        check_databases(info.data.get("engine", "mariabackup"), value)
        return value


def check_databases(engine: str | None, databases: list[str] | None) -> None:
    """``databases`` is for the logical engine only, and never an empty list.

    Raises:
        ValueError: naming the fields and the accepted values.
    """
    if databases is None:
        return
    if engine != "logical":
        raise ValueError(
            f"'databases' needs engine 'logical' (got engine {engine or 'mariabackup'!r}); "
            "mariabackup always backs up every database"
        )
    if not databases:
        raise ValueError("'databases' must name at least one database; omit it to dump all")


class BackupScheduleSpec(BackupPolicySpec):
    """Body of a BackupSchedule."""

    cluster: Name
    schedule: str | None = None
    """5-field cron line or a macro such as @daily; exclusive with ``frequency``."""
    frequency: str | None = None
    """Whole minutes from 1m to 31d (30m, 6h, 45m, 90m, 48h ...); exclusive with ``schedule``."""
    time_zone: str = "UTC"
    """IANA zone of ``schedule``, and the zone ``plan`` prints times in."""
    stagger_window: Duration | None = None
    """Spread shard start times over this window (default: the schedule's period)."""
    suspend: bool = False
    concurrency_policy: Literal["Forbid", "Allow", "Replace"] = "Forbid"
    """Per shard: what a slot does while that shard's previous backup still runs."""
    starting_deadline_seconds: Annotated[int, NotBool, Field(
        ge=MIN_STARTING_DEADLINE_SECONDS, le=MAX_STARTING_DEADLINE_SECONDS)] | None = None
    """Catch-up window: a slot missed by more than this is skipped (10 s to 366 days)."""
    max_concurrent_shards: Annotated[int, NotBool, Field(ge=1, le=MAX_CONCURRENT_SHARDS)] | None \
        = None
    """Cluster-wide budget of shard backups running at once (unset: no limit)."""
    strategies: Annotated[list[StrategySpec], Field(min_length=1)]
    successful_jobs_history_limit: Annotated[int, NotBool, Field(ge=0, le=MAX_HISTORY_LIMIT)] = 3
    failed_jobs_history_limit: Annotated[int, NotBool, Field(ge=0, le=MAX_HISTORY_LIMIT)] = 1
    first_backup: Literal["immediate", "next-slot"] = "immediate"
    """immediate: applying the schedule starts a run at once for every shard that has no
    committed backup of it yet (KubeStash's instant backup); next-slot: wait for the first
    slot. A readiness rule (``allowFirstBackup``) still applies to that run."""

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        text = value.strip()
        if text.startswith("@"):
            if text not in MACROS:
                raise ValueError(
                    f"unknown macro {text!r}; accepted: {', '.join(CRON_MACROS)} "
                    "(for an interval use 'frequency', e.g. frequency: 6h)"
                )
            return text
        fields = text.split()
        # minute, hour and day of month are numeric; month and day of week may use names
        atoms_ok = all(
            (_CRON_NAMED if i >= 3 else _CRON_NUMERIC).match(atom)
            for i, field in enumerate(fields)
            for atom in field.split(",")
        )
        if len(fields) != 5 or not atoms_ok or not croniter.is_valid(text):
            raise ValueError(
                f"invalid cron line {text!r}: use 5 fields 'minute hour day-of-month month "
                "day-of-week' (example: '0 2 * * *') or a macro such as @daily"
            )
        return text

    @field_validator("frequency")
    @classmethod
    def _frequency(cls, value: str | None) -> str | None:
        if value is not None:
            frequency_seconds(value)
        return value

    @field_validator("time_zone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as UTC or Europe/Berlin"
            ) from None
        return value

    @model_validator(mode="after")
    def _when(self) -> BackupScheduleSpec:
        if self.schedule is not None and self.frequency is not None:
            raise ValueError(
                "'schedule' and 'frequency' are mutually exclusive; set only one "
                "(schedule: a cron line such as '0 2 * * *'; frequency: a duration such as 6h)"
            )
        if self.schedule is None and self.frequency is None:
            raise ValueError(
                "set one of 'schedule' (a cron line such as '0 2 * * *', or @daily) or "
                f"'frequency' (a duration: {FREQUENCY_EXAMPLES})"
            )
        names = [s.name for s in self.strategies]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"strategy names must be unique; repeated: {', '.join(dup)}")
        return self


class BackupSchedule(SpecModel):
    """``kind: BackupSchedule``."""

    api_version: Literal["shardkeeper.io/v1alpha1"] = API_VERSION
    kind: Literal["BackupSchedule"] = "BackupSchedule"
    metadata: Metadata
    spec: BackupScheduleSpec
