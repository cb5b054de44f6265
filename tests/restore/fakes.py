"""Fake restore activities, registered under the real names, for workflow tests.

They record every call in order as ``(activity, target)`` (target: instance name, or
``keyspace/shard``) and fail where the scenario says, so tests can assert the saga's order
(compensations registered before their steps, run newest first) without any server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from fixtures.fake_activities import demo_topology
from shardkeeper.contracts import names
from shardkeeper.contracts.backup import ResolveShardsInput, ResolveShardsResult
from shardkeeper.contracts.common import Role, Topology
from shardkeeper.contracts.restore import (
    BackupChoice,
    DatadirInput,
    DatadirRecord,
    FenceInput,
    InstanceInput,
    ResolveRestoreSetInput,
    ResolveRestoreSetResult,
    ReturnDatadirResult,
    StageRestoreInput,
    StageRestoreResult,
    StartInstanceInput,
    StartInstanceResult,
    TargetState,
    ValidateRestoreInput,
    ValidateRestoreResult,
    VerifyBackupInput,
    VerifyBackupResult,
)

BACKUP_ID = "20261122T020000Z"
COMPENSATIONS = (names.UNFENCE_TARGET, names.RETURN_DATADIR, names.STOP_INSTANCE)


@dataclass
class RestoreScenario:
    """What the fakes answer, and what they saw."""

    topology: Topology = field(default_factory=demo_topology)
    fail: dict[tuple[str, str], str] = field(default_factory=dict)
    """(activity, target) → error type raised (non-retryable)."""
    block_stage: bool = False
    """stage_restore heartbeats until cancelled (to cancel mid-restore)."""
    calls: list[tuple[str, str]] = field(default_factory=list)

    def names_called(self, activity_name: str) -> list[str]:
        """Targets of every call of one activity, in order."""
        return [t for a, t in self.calls if a == activity_name]

    def for_target(self, target: str) -> list[str]:
        """Activities called for one target, in order."""
        return [a for a, t in self.calls if t == target]

    def _record(self, name: str, target: str) -> None:
        self.calls.append((name, target))
        error = self.fail.get((name, target))
        if error:
            raise ApplicationError(f"injected {error} at {name} {target}", type=error,
                                   non_retryable=True)

    def activities(self) -> list[Callable[..., Any]]:
        """Fake activity callables bound to this scenario."""
        sc = self

        @activity.defn(name=names.RESOLVE_SHARDS)
        async def resolve_shards(inp: ResolveShardsInput) -> ResolveShardsResult:
            sc._record(names.RESOLVE_SHARDS, inp.source.cluster)
            return ResolveShardsResult(topology=sc.topology)

        @activity.defn(name=names.RESOLVE_RESTORE_SET)
        async def resolve_restore_set(inp: ResolveRestoreSetInput) -> ResolveRestoreSetResult:
            sc._record(names.RESOLVE_RESTORE_SET, inp.cluster)
            return ResolveRestoreSetResult(choices=tuple(
                BackupChoice(keyspace=k, shard=s, backup_id=BACKUP_ID,
                             object_key=f"pfx/{inp.cluster}/{k}/{s}/{BACKUP_ID}/backup.xbstream",
                             sha256="ab" * 32, size_bytes=1000, gtid="0-1-42",
                             finished_at=datetime(2026, 11, 22, 2, tzinfo=UTC))
                for k, s in inp.shards), note="fake")

        @activity.defn(name=names.VERIFY_BACKUP)
        async def verify_backup(inp: VerifyBackupInput) -> VerifyBackupResult:
            sc._record(names.VERIFY_BACKUP, f"{inp.choice.keyspace}/{inp.choice.shard}")
            return VerifyBackupResult(sha256=inp.choice.sha256, size_bytes=inp.choice.size_bytes)

        @activity.defn(name=names.INSPECT_TARGET)
        async def inspect_target(inp: InstanceInput) -> TargetState:
            sc._record(names.INSPECT_TARGET, inp.instance.name)
            return TargetState(instance=inp.instance, running=True,
                               replicating=inp.instance.role == Role.REPLICA)

        @activity.defn(name=names.FENCE_TARGET)
        async def fence_target(inp: FenceInput) -> TargetState:
            sc._record(names.FENCE_TARGET, inp.state.instance.name)
            return inp.state

        @activity.defn(name=names.UNFENCE_TARGET)
        async def unfence_target(inp: FenceInput) -> TargetState:
            sc._record(names.UNFENCE_TARGET if not inp.restored else "unfence_restored",
                       inp.state.instance.name)
            return inp.state

        @activity.defn(name=names.SET_ASIDE_DATADIR)
        async def set_aside_datadir(inp: DatadirInput) -> DatadirRecord:
            sc._record(names.SET_ASIDE_DATADIR, inp.instance.name)
            return DatadirRecord(datadir=f"/d/{inp.instance.name}", aside="/a", existed=True,
                                 digest=f"digest-{inp.instance.name}")

        @activity.defn(name=names.RETURN_DATADIR)
        async def return_datadir(inp: DatadirInput) -> ReturnDatadirResult:
            sc._record(names.RETURN_DATADIR, inp.instance.name)
            return ReturnDatadirResult(datadir=f"/d/{inp.instance.name}", returned=True,
                                       digest=f"digest-{inp.instance.name}")

        @activity.defn(name=names.DISCARD_SET_ASIDE)
        async def discard_set_aside(inp: DatadirInput) -> ReturnDatadirResult:
            sc._record(names.DISCARD_SET_ASIDE, inp.instance.name)
            return ReturnDatadirResult(datadir=f"/d/{inp.instance.name}", returned=False)

        @activity.defn(name=names.STAGE_RESTORE)
        async def stage_restore(inp: StageRestoreInput) -> StageRestoreResult:
            sc._record(names.STAGE_RESTORE, inp.instance.name)
            while sc.block_stage:  # a held staging; its beats are how cancellation arrives
                activity.heartbeat()
                await asyncio.sleep(0.2)
            return StageRestoreResult(datadir="/d", size_bytes=1000, raw_size_bytes=1000,
                                      sha256="ab" * 32)

        @activity.defn(name=names.START_INSTANCE)
        async def start_instance(inp: StartInstanceInput) -> StartInstanceResult:
            sc._record(names.START_INSTANCE, inp.instance.name)
            return StartInstanceResult(pid=1)

        @activity.defn(name=names.STOP_INSTANCE)
        async def stop_instance(inp: InstanceInput) -> StartInstanceResult:
            sc._record(names.STOP_INSTANCE, inp.instance.name)
            return StartInstanceResult()

        @activity.defn(name=names.VALIDATE_RESTORE)
        async def validate_restore(inp: ValidateRestoreInput) -> ValidateRestoreResult:
            sc._record(names.VALIDATE_RESTORE, f"{inp.shard.keyspace}/{inp.shard.shard}")
            return ValidateRestoreResult(checksums={f"{inp.shard.keyspace}.t": 7})

        return [resolve_shards, resolve_restore_set, verify_backup, inspect_target, fence_target,
                unfence_target, set_aside_datadir, return_datadir, discard_set_aside,
                stage_restore, start_instance, stop_instance, validate_restore]
