"""ShardRestore: one shard's part of a Restore saga, every instance of the shard.

prepare: inspect → fence (read_only, stop replication, stop the server) → move the datadir
aside → restore through the agent (stage, verify, prepare, move in) → start fenced → check
the data and re-attach replicas. Then the shard reports ``Prepared`` to its parent and
waits: ``commit`` unfences it and only then discards the set-aside datadirs; ``rollback``
(another shard failed, or the restore was cancelled) undoes everything.

Every step that changes a target registers its compensation first (``saga.py``); a failure,
timeout or cancellation at any point unwinds the registered compensations newest first,
which returns each instance to its previous datadir and state.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from shardkeeper import naming
    from shardkeeper.contracts import names
    from shardkeeper.contracts.common import Instance, Role
    from shardkeeper.contracts.restore import (
        QUERY_PHASE,
        QUERY_PROGRESS,
        SIGNAL_DECIDE,
        SIGNAL_SHARD_PHASE,
        DatadirInput,
        DatadirRecord,
        FenceInput,
        InstanceInput,
        InstanceRestoreReport,
        RestorePhase,
        ReturnDatadirResult,
        ShardDecision,
        ShardPhaseReport,
        ShardProgress,
        ShardRestoreInput,
        ShardRestoreResult,
        StageRestoreInput,
        StageRestoreResult,
        StartInstanceInput,
        StartInstanceResult,
        TargetState,
        ValidateRestoreInput,
        ValidateRestoreResult,
    )
    from shardkeeper.naming import restore_job_name
    from shardkeeper.workflows import restore_policies as policies
    from shardkeeper.workflows.failures import root_cause
    from shardkeeper.workflows.policies import ActivityPolicy
    from shardkeeper.workflows.saga import Saga

SHARD_RESTORE_FAILED = "ShardRestoreFailed"


class RolledBack(Exception):
    """The parent decided to roll this (prepared) shard back."""


def ordered(instances: tuple[Instance, ...]) -> list[Instance]:
    """Primary first: writes stop at the source before replicas are touched."""
    return sorted(instances, key=lambda i: (i.role != Role.PRIMARY, i.name))


@workflow.defn(name=names.SHARD_RESTORE)
class ShardRestoreWorkflow:
    """Restore every instance of one shard, all or nothing with its sibling shards."""

    def __init__(self) -> None:
        self._phase = RestorePhase.PENDING
        self._decision: ShardDecision | None = None
        self._saga = Saga()
        self._reports: dict[str, InstanceRestoreReport] = {}
        self._error: str | None = None
        self._keyspace = ""
        self._shard = ""
        self._backup_id: str | None = None
        self._bytes_total: int | None = None

    @workflow.signal(name=SIGNAL_DECIDE)
    def decide(self, decision: ShardDecision) -> None:
        """The parent's verdict on a prepared shard (the first one counts)."""
        if self._decision is None:
            self._decision = decision

    @workflow.query(name=QUERY_PHASE)
    def phase(self) -> str:
        """The shard's phase (``RestorePhase`` value)."""
        return self._phase.value

    @workflow.query(name=QUERY_PROGRESS)
    def progress(self) -> ShardProgress:
        """Phase and sizes; bytes restored so far are the ``stage_restore`` heartbeats."""
        return ShardProgress(
            keyspace=self._keyspace, shard=self._shard, phase=self._phase,
            backup_id=self._backup_id, workflow_id=workflow.info().workflow_id,
            bytes_total=self._bytes_total, error=self._error,
        )

    @workflow.run
    async def run(self, inp: ShardRestoreInput) -> ShardRestoreResult:
        """Prepare, wait for the parent's decision, commit or compensate."""
        self._keyspace, self._shard = inp.shard.keyspace, inp.shard.shard
        self._backup_id, self._bytes_total = inp.backup.backup_id, inp.backup.size_bytes
        try:
            validated = await self._prepare(inp)
            await self._set_phase(RestorePhase.PREPARED)
            if inp.wait_for_decision:
                await workflow.wait_condition(lambda: self._decision is not None)
                if self._decision is not None and not self._decision.commit:
                    raise RolledBack()
            await self._commit(inp)
        except RolledBack:
            await self._compensate()
            return self._result(inp)
        except BaseException as err:
            # ActivityError, a timeout, or CancelledError (restore cancelled): undo first.
            self._error = _describe(err)
            await self._compensate()
            if isinstance(err, asyncio.CancelledError):
                raise
            raise ApplicationError(
                f"restore of {inp.shard.keyspace}/{inp.shard.shard} failed: {self._error}",
                self._result(inp).model_dump(mode="json"),
                type=SHARD_RESTORE_FAILED,
                non_retryable=True,
            ) from err
        await self._set_phase(RestorePhase.COMPLETED)
        return self._result(inp, validated)

    # ---- forward steps ----------------------------------------------------------------------

    async def _prepare(self, inp: ShardRestoreInput) -> ValidateRestoreResult:
        instances = ordered(inp.shard.instances)
        creds = inp.credentials
        await self._set_phase(RestorePhase.FENCING)
        states: dict[str, TargetState] = {}
        for inst in instances:
            state = await _act(names.INSPECT_TARGET,
                               InstanceInput(instance=inst, credentials=creds),
                               TargetState, policies.INSPECT)
            states[inst.name] = state
            self._saga.add(f"unfence {inst.name}", names.UNFENCE_TARGET,
                           FenceInput(state=state, credentials=creds))
            await _act(names.FENCE_TARGET, FenceInput(state=state, credentials=creds),
                       TargetState, policies.FENCE)
        records: dict[str, DatadirRecord] = {}
        for inst in instances:
            job = restore_job_name(inp.cluster, inp.shard.keyspace, inp.shard.shard, inst.name,
                                   inp.restore_key)
            aside = DatadirInput(instance=inst, restore_key=inp.restore_key, job_name=job,
                                 executor=inp.executor)
            self._saga.add(f"return datadir of {inst.name}", names.RETURN_DATADIR, aside)
            record = await _act(names.SET_ASIDE_DATADIR, aside, DatadirRecord,
                                policies.SET_ASIDE)
            records[inst.name] = record
            self._reports[inst.name] = InstanceRestoreReport(
                instance=inst.name, datadir=record.datadir, set_aside_to=record.aside,
                digest_before=record.digest,
            )

        await self._set_phase(RestorePhase.RESTORING)
        await self._stage_all(inp, instances)
        for inst in instances:
            self._saga.add(f"stop restored {inst.name}", names.STOP_INSTANCE,
                           InstanceInput(instance=inst, credentials=creds))
            record = records[inst.name]
            await _act(
                names.START_INSTANCE,
                StartInstanceInput(instance=inst, credentials=creds, read_only=True,
                                   carry_from=record.aside if record.existed else None),
                StartInstanceResult, policies.START,
            )

        # Point-in-time recovery will replay archived binlogs here (RestorePhase.RECOVERING).
        await self._set_phase(RestorePhase.VALIDATING_DATA)
        validated: ValidateRestoreResult = await _act(
            names.VALIDATE_RESTORE,
            ValidateRestoreInput(shard=inp.shard, credentials=creds, gtid=inp.backup.gtid,
                                 mode=inp.validation),
            ValidateRestoreResult, policies.VALIDATE,
        )
        return validated

    async def _stage_all(self, inp: ShardRestoreInput, instances: list[Instance]) -> None:
        """One agent job per instance, side by side; one failure stops the others first."""
        tasks = [asyncio.ensure_future(self._stage(inp, inst)) for inst in instances]
        try:
            for done in workflow.as_completed(tasks):
                await done
        except BaseException:
            for task in tasks:
                task.cancel()
            # WAIT_CANCELLATION_COMPLETED: the agents are stopped before compensation runs.
            for task in tasks:
                with contextlib.suppress(BaseException):  # the first error is re-raised
                    await task
            raise

    async def _stage(self, inp: ShardRestoreInput, inst: Instance) -> StageRestoreResult:
        job = restore_job_name(inp.cluster, inp.shard.keyspace, inp.shard.shard, inst.name,
                               inp.restore_key)
        staged: StageRestoreResult = await _act(
            names.STAGE_RESTORE,
            StageRestoreInput(
                job_name=job, executor=inp.executor, cluster=inp.cluster,
                keyspace=inp.shard.keyspace, shard=inp.shard.shard, instance=inst,
                source=inp.source, backup=inp.backup, restore_key=inp.restore_key,
                use_memory_bytes=inp.use_memory_bytes,
                labels=naming.restore_job_labels(inp.cluster, inp.restore_name),
            ),
            StageRestoreResult, policies.STAGE,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return staged

    async def _commit(self, inp: ShardRestoreInput) -> None:
        """Unfence (replicas first, the primary last), then discard the set-aside datadirs."""
        await self._set_phase(RestorePhase.UNFENCING)
        fenced = [c.arg for c in self._saga.entries if c.activity == names.UNFENCE_TARGET]
        for arg in reversed(fenced):
            await _act(names.UNFENCE_TARGET, arg.model_copy(update={"restored": True}),
                       TargetState, policies.UNFENCE)
        # Committed: from here on nothing is undone; the old data goes only now.
        self._saga.discard()
        for inst in ordered(inp.shard.instances):
            try:
                await _act(names.DISCARD_SET_ASIDE,
                           DatadirInput(instance=inst, restore_key=inp.restore_key),
                           ReturnDatadirResult, policies.DISCARD)
            except ActivityError as err:
                workflow.logger.warning("set-aside datadir not removed; remove it by hand",
                                        extra={"instance": inst.name, "error": _describe(err)})

    # ---- compensation -----------------------------------------------------------------------

    async def _compensate(self) -> None:
        await self._set_phase(RestorePhase.COMPENSATING)
        outcomes = await self._saga.compensate()
        for raw in self._saga.results_of(names.RETURN_DATADIR):
            returned = ReturnDatadirResult.model_validate(raw)
            for name, report in self._reports.items():
                if report.datadir == returned.datadir:
                    self._reports[name] = report.model_copy(
                        update={"digest_returned": returned.digest})
        failed = [o for o in outcomes if not o.ok]
        await self._set_phase(RestorePhase.FAILED if failed else RestorePhase.COMPENSATED)

    async def _set_phase(self, phase: RestorePhase) -> None:
        self._phase = phase
        parent = workflow.info().parent
        if parent is None:
            return
        report = ShardPhaseReport(keyspace=self._keyspace, shard=self._shard, phase=phase,
                                  error=self._error, bytes_total=self._bytes_total)
        try:
            await workflow.get_external_workflow_handle(parent.workflow_id).signal(
                SIGNAL_SHARD_PHASE, report)
        except Exception as err:  # the parent may be gone; the shard's own state still counts
            workflow.logger.warning("parent not signalled", extra={"error": str(err)})

    def _result(
        self, inp: ShardRestoreInput, validated: ValidateRestoreResult | None = None
    ) -> ShardRestoreResult:
        return ShardRestoreResult(
            keyspace=inp.shard.keyspace, shard=inp.shard.shard, backup_id=inp.backup.backup_id,
            phase=self._phase, workflow_id=workflow.info().workflow_id,
            bytes_restored=inp.backup.size_bytes if validated else 0,
            checksums=validated.checksums if validated else {},
            row_counts=validated.row_counts if validated else {},
            instances=tuple(self._reports.values()),
            compensations=tuple(self._saga.outcomes), error=self._error,
        )


async def _act(
    activity: str, arg: BaseModel, result_type: type[Any], policy: ActivityPolicy,
    **extra: Any,
) -> Any:
    return await workflow.execute_activity(
        activity, arg, result_type=result_type, **policy.options(), **extra
    )


def _describe(err: BaseException) -> str:
    if isinstance(err, asyncio.CancelledError):
        return "cancelled"
    cause = root_cause(err)
    return f"{cause.type}: {cause.message}" if cause.type else cause.message
