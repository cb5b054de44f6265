"""``kind: BackupSchedule``: when and what to back up, and where to."""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from shardkeeper.spec.base import API_VERSION, Duration, Metadata, SpecModel, parse_duration
from shardkeeper.spec.destination import DestinationSpec
from shardkeeper.spec.executor import ExecutorSpec

MIN_FREQUENCY_SECONDS = 60
MAX_FREQUENCY_SECONDS = 31 * 86400
CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


class StrategySpec(SpecModel):
    """Which shards a strategy covers."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    scope: Literal["Shard", "Keyspace", "Cluster"] = "Shard"
    keyspace: str | None = None
    shard: str | None = None

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

    keep_last: Annotated[int, Field(ge=1)] | None = None
    retention_days: Annotated[int, Field(ge=1)] = 7


class BackupScheduleSpec(SpecModel):
    """Body of a BackupSchedule."""

    cluster: str
    schedule: str | None = None
    """5-field cron line or a macro such as @daily; exclusive with ``frequency``."""
    frequency: Duration | None = None
    """Whole minutes from 1m to 31d (30m, 6h, 45m, 90m, 48h ...); exclusive with ``schedule``."""
    time_zone: str = "UTC"
    stagger_window: Duration | None = None
    """Spread shard start times over this window (default: the schedule's period)."""
    suspend: bool = False
    strategies: Annotated[list[StrategySpec], Field(min_length=1)]
    destination: DestinationSpec
    engine: Literal["mariabackup"] = "mariabackup"
    target: Literal["prefer-replica", "primary"] = "prefer-replica"
    max_replica_lag: Duration = "5m"
    job_timeout: Duration | None = None
    retention: RetentionSpec = RetentionSpec()
    successful_jobs_history_limit: Annotated[int, Field(ge=0)] = 3
    failed_jobs_history_limit: Annotated[int, Field(ge=0)] = 1
    executor: ExecutorSpec = ExecutorSpec()

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        text = value.strip()
        if text.startswith("@"):
            if text not in CRON_MACROS:
                raise ValueError(f"unknown macro {text!r}; accepted: {', '.join(CRON_MACROS)}")
            return text
        if len(text.split()) != 5 or not croniter.is_valid(text):
            raise ValueError(
                f"invalid cron line {text!r}: use 5 fields 'minute hour day month weekday' "
                "(example: '0 2 * * *') or a macro such as @daily"
            )
        return text

    @field_validator("frequency")
    @classmethod
    def _frequency(cls, value: str | None) -> str | None:
        if value is None:
            return value
        seconds = parse_duration(value)
        if seconds % 60 or not MIN_FREQUENCY_SECONDS <= seconds <= MAX_FREQUENCY_SECONDS:
            raise ValueError(
                f"invalid frequency {value!r}: use whole minutes from 1m to 31d "
                "(examples: 30m, 45m, 90m, 6h, 24h, 48h)"
            )
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
        if (self.schedule is None) == (self.frequency is None):
            raise ValueError("set exactly one of 'schedule' (cron) or 'frequency' (e.g. 6h)")
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
