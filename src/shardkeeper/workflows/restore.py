"""Restore: the saga that puts one shard, a keyspace or a whole cluster back to a backup.

Validating (topology, one backup per shard, every backup re-read and its SHA-256 checked) →
AwaitingApproval (only with ``require_approval``: a durable ``wait_condition`` on the
``approve`` signal or update, for days if need be) → one ``ShardRestore`` child per shard,
at most ``max_concurrent_shards`` preparing at once (Fencing → Restoring → ValidatingData →
Prepared) → when every shard is prepared, each is told to commit (Unfencing → Completed).

All or nothing: if any shard fails, or the restore is cancelled (workflow cancellation, or
the ``cancel`` signal/update for clients that cannot cancel), every shard that changed
anything runs its compensations and returns to its prior datadir and state
(Compensated). The phase is a query (``phase``, ``progress``) and the
``ShardkeeperRestorePhase`` search attribute.

Over 400 lines and kept whole on purpose: restores wait days for approval, so a split that
changes the command order must go behind ``workflow.patched`` with a replay test
(docs/workflow-versioning.md); the compensation stack already lives in ``saga.py``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
)

with workflow.unsafe.imports_passed_through():
    from shardkeeper.contracts import names
    from shardkeeper.contracts.backup import ResolveShardsInput, ResolveShardsResult
    from shardkeeper.contracts.common import DatabaseCredentials, ShardTopology, Topology
    from shardkeeper.contracts.restore import (
        PHASE_ORDER,
        QUERY_PHASE,
        QUERY_PROGRESS,
        SIGNAL_APPROVE,
        SIGNAL_CANCEL,
        SIGNAL_DECIDE,
        SIGNAL_SHARD_PHASE,
        UPDATE_APPROVE,
        UPDATE_CANCEL,
        ApproveInput,
        BackupChoice,
        CancelInput,
        ResolveRestoreSetInput,
        ResolveRestoreSetResult,
        RestoreInput,
        RestorePhase,
        RestoreProgress,
        RestoreResult,
        ShardDecision,
        ShardPhaseReport,
        ShardProgress,
        ShardRestoreInput,
        ShardRestoreResult,
        VerifyBackupInput,
        VerifyBackupResult,
    )
    from shardkeeper.errors import SpecInvalid
    from shardkeeper.naming import restore_key, shard_restore_workflow_id
    from shardkeeper.workflows import policies, search
    from shardkeeper.workflows import restore_policies as rpolicies
    from shardkeeper.workflows.failures import failure, root_cause
    from shardkeeper.workflows.saga import shielded
    from shardkeeper.workflows.shard_restore import ShardRestoreWorkflow

RESTORE_PHASE = SearchAttributeKey.for_keyword(names.SA_RESTORE_PHASE)
TERMINAL = (RestorePhase.COMPLETED, RestorePhase.FAILED, RestorePhase.COMPENSATED)
PREPARING = (RestorePhase.PENDING, RestorePhase.FENCING, RestorePhase.RESTORING,
             RestorePhase.RECOVERING, RestorePhase.VALIDATING_DATA)


def select_shards(
    topology: Topology, keyspace: str | None, shard: str | None
) -> list[ShardTopology]:
    """The target shards: one shard, a keyspace, or every shard of the topology."""
    return [
        s for s in topology.shards
        if (keyspace is None or s.keyspace == keyspace) and (shard is None or s.shard == shard)
    ]


@workflow.defn(name=names.RESTORE)
class RestoreWorkflow:
    """Restore a backup set into the target instances, all or nothing."""

    def __init__(self) -> None:
        self._progress = RestoreProgress()
        self._approved = False
        self._cancel: CancelInput | None = None
        self._shards: dict[tuple[str, str], ShardProgress] = {}
        self._finished: dict[tuple[str, str], ShardRestoreResult | None] = {}
        self._errors: list[str] = []
        self._credentials = DatabaseCredentials()
        self._children: dict[tuple[str, str], str] = {}
        self._watchers: list[asyncio.Task[None]] = []

    # ---- messages ---------------------------------------------------------------------------

    @workflow.signal(name=SIGNAL_APPROVE)
    def approve(self, inp: ApproveInput) -> None:
        """Allow the destructive steps (no effect once they started or the restore ended)."""
        if not self._approved:
            self._approved = True
            self._set(approved=True, approved_by=inp.approved_by)

    @workflow.update(name=UPDATE_APPROVE)
    def approve_update(self, inp: ApproveInput) -> RestoreProgress:
        """``approve`` as an update: the caller learns it was accepted (and the progress)."""
        self.approve(inp)
        return self.progress()

    @approve_update.validator
    def _validate_approve(self, inp: ApproveInput) -> None:
        if self._progress.phase in TERMINAL or self._cancel is not None:
            raise ValueError(f"restore is {self._progress.phase.value}; nothing to approve")

    @workflow.signal(name=SIGNAL_CANCEL)
    def cancel(self, inp: CancelInput) -> None:
        """Stop the restore and run the compensations (as workflow cancellation does)."""
        if self._cancel is None:
            self._cancel = inp
            self._set(cancel_requested=True)

    @workflow.update(name=UPDATE_CANCEL)
    def cancel_update(self, inp: CancelInput) -> RestoreProgress:
        """``cancel`` as an update."""
        self.cancel(inp)
        return self.progress()

    @cancel_update.validator
    def _validate_cancel(self, inp: CancelInput) -> None:
        if self._progress.phase in TERMINAL:
            raise ValueError(f"restore is {self._progress.phase.value}; nothing to cancel")

    @workflow.signal(name=SIGNAL_SHARD_PHASE)
    def shard_phase(self, report: ShardPhaseReport) -> None:
        """A child reached a phase."""
        key = (report.keyspace, report.shard)
        current = self._shards.get(key)
        if current is None:
            return
        self._shards[key] = current.model_copy(update={
            "phase": report.phase, "error": report.error or current.error,
            "bytes_total": report.bytes_total or current.bytes_total,
        })
        self._publish_shards()

    @workflow.query(name=QUERY_PROGRESS)
    def progress(self) -> RestoreProgress:
        """Phase, backup set, per-shard phases (bytes and rate: ``describe restore``)."""
        return self._progress

    @workflow.query(name=QUERY_PHASE)
    def phase(self) -> str:
        """The restore's phase (``RestorePhase`` value)."""
        return self._progress.phase.value

    # ---- run --------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: RestoreInput) -> RestoreResult:
        """Validate, wait for approval, fan out, commit or compensate."""
        started = workflow.now()
        self._set(name=inp.name)
        workflow.upsert_search_attributes([search.CLUSTER.value_set(inp.cluster)])
        await self._enter(RestorePhase.VALIDATING)
        try:
            shards, choices = await self._validate(inp)
            if inp.require_approval and not self._approved and self._cancel is None:
                await self._enter(RestorePhase.AWAITING_APPROVAL)
                timeout = (timedelta(seconds=inp.approval_timeout_seconds)
                           if inp.approval_timeout_seconds else None)
                try:
                    await workflow.wait_condition(
                        lambda: self._approved or self._cancel is not None, timeout=timeout)
                except TimeoutError:
                    raise ApplicationError(
                        f"no approval within {inp.approval_timeout_seconds}s; nothing was changed",
                        type="ApprovalTimedOut", non_retryable=True) from None
        except asyncio.CancelledError:
            await self._end(RestorePhase.COMPENSATED, "cancelled before any change")
            raise
        except (ActivityError, ApplicationError) as err:
            cause = root_cause(err)
            await self._end(RestorePhase.FAILED, f"{cause.type}: {cause.message}")
            raise ApplicationError(
                f"restore {inp.name} failed before changing anything: {cause.message}",
                type=cause.type or "RestoreFailed", non_retryable=True) from err
        if self._cancel is not None:
            await self._end(RestorePhase.COMPENSATED, "cancelled before any change")
            raise self._cancelled_error(inp)

        await self._enter(RestorePhase.FENCING)
        try:
            committed = await self._fan_out(inp, shards, choices)
        except asyncio.CancelledError:
            if self._cancel is None:
                self._cancel = CancelInput(reason="workflow cancellation")
                self._set(cancel_requested=True)
            await shielded(self._abort())
            raise
        if not committed:
            await shielded(self._abort())
            if self._cancel is not None:
                raise self._cancelled_error(inp)
            raise ApplicationError(
                f"restore {inp.name} failed; "
                f"{self._progress.phase.value.lower()}: {'; '.join(self._errors)}",
                type="RestoreFailed", non_retryable=True)
        await self._enter(RestorePhase.COMPLETED)
        await workflow.wait_condition(workflow.all_handlers_finished)
        by_key = {(c.keyspace, c.shard): c for c in choices}
        results = [self._finished[k] for k in sorted(self._finished)]
        return RestoreResult(
            name=inp.name, cluster=inp.cluster, phase=RestorePhase.COMPLETED,
            backup_set=tuple(by_key[k] for k in sorted(by_key)),
            shards=tuple(r for r in results if r is not None),
            started_at=started, finished_at=workflow.now(),
        )

    async def _validate(
        self, inp: RestoreInput
    ) -> tuple[list[ShardTopology], tuple[BackupChoice, ...]]:
        resolved = await workflow.execute_activity(
            names.RESOLVE_SHARDS, ResolveShardsInput(source=inp.target),
            result_type=ResolveShardsResult, **policies.RESOLVE.options(),
        )
        shards = select_shards(resolved.topology, inp.keyspace, inp.shard)
        if not shards:
            where = "/".join(p for p in (inp.keyspace, inp.shard) if p) or "the cluster"
            raise failure(SpecInvalid, f"no target shard matches {where} in the target topology")
        self._credentials = resolved.topology.credentials
        chosen = await workflow.execute_activity(
            names.RESOLVE_RESTORE_SET,
            ResolveRestoreSetInput(source=inp.source, cluster=inp.cluster,
                                   shards=tuple((s.keyspace, s.shard) for s in shards)),
            result_type=ResolveRestoreSetResult, **rpolicies.RESOLVE_SET.options(),
        )
        self._set(backup_set=chosen.choices, backup_set_note=chosen.note)
        for s in shards:
            choice = next(c for c in chosen.choices
                          if (c.keyspace, c.shard) == (s.keyspace, s.shard))
            self._shards[(s.keyspace, s.shard)] = ShardProgress(
                keyspace=s.keyspace, shard=s.shard, backup_id=choice.backup_id,
                bytes_total=choice.size_bytes,
                workflow_id=shard_restore_workflow_id(inp.cluster, inp.name, s.keyspace, s.shard),
            )
        self._publish_shards()
        # Re-read every object now: a corrupt backup stops the restore before any fencing.
        await asyncio.gather(*(
            workflow.execute_activity(
                names.VERIFY_BACKUP, VerifyBackupInput(source=inp.source, choice=c),
                result_type=VerifyBackupResult, **rpolicies.VERIFY_BACKUP.options(),
            )
            for c in chosen.choices
        ))
        return shards, chosen.choices

    async def _fan_out(
        self, inp: RestoreInput, shards: list[ShardTopology], choices: tuple[BackupChoice, ...]
    ) -> bool:
        """Start the children within the concurrency bound; True when every shard committed."""
        info = workflow.info()
        key = restore_key(info.workflow_id, info.first_execution_run_id)
        by_key = {(c.keyspace, c.shard): c for c in choices}
        limit = max(1, inp.max_concurrent_shards)
        for s in shards:
            await workflow.wait_condition(
                lambda: self._preparing() < limit or self._aborting())
            if self._aborting():
                break
            k = (s.keyspace, s.shard)
            child_id = shard_restore_workflow_id(inp.cluster, inp.name, s.keyspace, s.shard)
            self._finished[k] = None
            self._shards[k] = self._shards[k].model_copy(update={"phase": RestorePhase.FENCING})
            handle = await workflow.start_child_workflow(
                ShardRestoreWorkflow.run,
                ShardRestoreInput(
                    restore_name=inp.name, restore_key=key, cluster=inp.cluster, shard=s,
                    credentials=self._credentials, source=inp.source, backup=by_key[k],
                    executor=inp.executor, validation=inp.validation,
                    use_memory_bytes=inp.use_memory_bytes,
                ),
                id=child_id,
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
                search_attributes=search.attributes(
                    cluster=inp.cluster, keyspace=s.keyspace, shard=s.shard,
                    backup_id=by_key[k].backup_id),
                static_summary=f"restore {s.keyspace}/{s.shard} from {by_key[k].backup_id}",
            )
            self._children[k] = handle.id
            self._watchers.append(asyncio.ensure_future(self._watch(k, handle)))
        await workflow.wait_condition(lambda: self._all_prepared() or self._aborting())
        if self._aborting():
            return False
        await self._enter(RestorePhase.UNFENCING)
        for child_id in self._children.values():
            await workflow.get_external_workflow_handle(child_id).signal(
                SIGNAL_DECIDE, ShardDecision(commit=True))
        await asyncio.gather(*self._watchers)
        return all(r is not None and r.phase == RestorePhase.COMPLETED
                   for r in self._finished.values())

    async def _watch(
        self, key: tuple[str, str],
        handle: workflow.ChildWorkflowHandle[ShardRestoreWorkflow, ShardRestoreResult],
    ) -> None:
        """Record a child's end; a failed child aborts the whole restore."""
        try:
            result = await handle
            self._finished[key] = result
            self._update_shard(key, phase=result.phase)
        except ChildWorkflowError as err:
            details = _failure_details(err)
            self._finished[key] = details
            if isinstance(err.cause, CancelledError):
                # rolled back on our request; its last reported phase says how that went
                reported = self._shards[key].phase
                ended = reported if reported in TERMINAL else RestorePhase.FAILED
                self._update_shard(key, phase=ended)
                return
            cause = root_cause(err)
            message = f"{key[0]}/{key[1]}: {cause.type}: {cause.message}"
            self._errors.append(message)
            self._update_shard(
                key, phase=details.phase if details else RestorePhase.FAILED, error=message)

    async def _abort(self) -> None:
        """Cancel every unfinished child (each compensates itself) and wait for all of them."""
        await self._enter(RestorePhase.COMPENSATING)
        for k, child_id in self._children.items():
            if self._finished.get(k) is None:
                try:
                    await workflow.get_external_workflow_handle(child_id).cancel()
                except Exception as err:  # already closed: its own result says what it did
                    workflow.logger.info("child not cancelled", extra={"error": str(err)})
        await asyncio.gather(*self._watchers, return_exceptions=True)
        attention = tuple(
            f"{k[0]}/{k[1]}" for k, p in sorted(self._shards.items())
            if p.phase == RestorePhase.FAILED
        )
        phase = RestorePhase.FAILED if attention else RestorePhase.COMPENSATED
        await self._end(phase, "; ".join(self._errors) or None, attention)

    # ---- state ------------------------------------------------------------------------------

    def _aborting(self) -> bool:
        return self._cancel is not None or bool(self._errors)

    def _preparing(self) -> int:
        return sum(1 for k in self._finished if self._shards[k].phase in PREPARING
                   and self._finished[k] is None)

    def _all_prepared(self) -> bool:
        started = [self._shards[k] for k in self._finished]
        return len(started) == len(self._shards) and all(
            p.phase == RestorePhase.PREPARED for p in started)

    def _update_shard(self, key: tuple[str, str], **update: object) -> None:
        self._shards[key] = self._shards[key].model_copy(update=update)
        self._publish_shards()

    def _publish_shards(self) -> None:
        self._set(shards=tuple(self._shards[k] for k in sorted(self._shards)))
        phase = self._progress.phase
        if phase in (RestorePhase.FENCING, RestorePhase.RESTORING, RestorePhase.RECOVERING,
                     RestorePhase.VALIDATING_DATA):
            # the restore is as far as its least advanced started shard
            started = [self._shards[k].phase for k in self._finished
                       if self._shards[k].phase in PHASE_ORDER]
            if started:
                least = min(started, key=PHASE_ORDER.index)
                if least in PREPARING[1:]:
                    self._phase_now(least)

    def _set(self, **update: object) -> None:
        self._progress = self._progress.model_copy(update=update)

    def _phase_now(self, phase: RestorePhase) -> None:
        if phase != self._progress.phase:
            self._set(phase=phase)
            workflow.upsert_search_attributes([RESTORE_PHASE.value_set(phase.value)])

    async def _enter(self, phase: RestorePhase) -> None:
        self._phase_now(phase)

    async def _end(
        self, phase: RestorePhase, error: str | None, attention: tuple[str, ...] = ()
    ) -> None:
        self._set(error=error, needs_attention=attention)
        self._phase_now(phase)
        await workflow.wait_condition(workflow.all_handlers_finished)

    def _cancelled_error(self, inp: RestoreInput) -> ApplicationError:
        reason = (self._cancel.reason if self._cancel else None) or "cancel requested"
        return ApplicationError(f"restore {inp.name} cancelled ({reason}); "
                                f"{self._progress.phase.value.lower()}",
                                type="RestoreCancelled", non_retryable=True)


def _failure_details(err: ChildWorkflowError) -> ShardRestoreResult | None:
    """The ShardRestoreResult a failed child attached to its error, if any."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.details:
        try:
            return ShardRestoreResult.model_validate(cause.details[0])
        except ValueError:
            return None
    return None
