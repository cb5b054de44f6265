"""ShardBackup: one shard, one slot.

stagger sleep → claim the slot (starting deadline and overlap, ``workflows/overlap.py``) →
readiness → choose source → launch job → await (heartbeats) → verify the stored bytes →
write metadata.json (the commit record) → prune. A shard that is not ready is
*skipped* (an outcome, not a failure); a backup that fails for good fails this workflow (red
in the Web UI) without failing its siblings.

Over 400 lines and kept whole on purpose: the step sequence is in recorded histories, so
it moves only behind ``workflow.patched`` with a replay test (docs/workflow-versioning.md).
Overlap already lives apart (``overlap.py``); the job-attempt loop is the next to move.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from shardkeeper import naming
    from shardkeeper.contracts import names
    from shardkeeper.contracts.agent import (
        AgentBackupReport,
        AgentBackupRequest,
        stream_object_name,
    )
    from shardkeeper.contracts.backup import (
        AwaitBackupInput,
        AwaitBackupResult,
        CheckShardReadinessInput,
        CheckShardReadinessResult,
        ChooseSourceInput,
        ChooseSourceResult,
        LaunchBackupInput,
        LaunchBackupResult,
        Outcome,
        PruneBackupsInput,
        PruneBackupsResult,
        PruneJobsInput,
        PruneJobsResult,
        ShardBackupInput,
        ShardBackupResult,
        VerifyUploadInput,
        VerifyUploadResult,
        WriteManifestInput,
        WriteManifestResult,
    )
    from shardkeeper.contracts.budget import LeaseRequest, RequestLeaseInput
    from shardkeeper.contracts.manifest import BackupManifest
    from shardkeeper.errors import JobFailed
    from shardkeeper.workflows import overlap, policies, search
    from shardkeeper.workflows.failures import new_job_may_succeed, root_cause


PATCH_KEY_PER_SCHEDULE = "shard-backup-key-per-schedule"
"""Backup keys under ``<backup_id>_<schedule tag>`` (``naming.backup_dir``), and the manifest
records ``storage_dir`` and ``trigger``."""


@workflow.defn(name=names.SHARD_BACKUP)
class ShardBackupWorkflow:
    """Back up one shard into one object and commit it with metadata.json."""

    def __init__(self) -> None:
        self._phase = "pending"
        self._lease_granted = False

    @workflow.signal(name=names.SIGNAL_LEASE_GRANTED)
    def lease_granted(self) -> None:
        """The cluster budget granted this backup a slot."""
        self._lease_granted = True

    @workflow.query(name="phase")
    def phase(self) -> str:
        """Current phase of the shard backup.

        One of pending, staggering, claiming, readiness, launching, running, verifying,
        committing, pruning, done.
        """
        return self._phase

    @workflow.run
    async def run(self, inp: ShardBackupInput) -> ShardBackupResult:
        """Run the backup; see the module docstring."""
        try:
            return await self._run(inp)
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise  # cancelled (replaced): the run closes as cancelled, not failed
            # a step failed for good: mark the outcome for the Web UI, fail with the root cause
            cause = root_cause(err)
            raise self._fail(inp, cause.message, cause.type) from err

    async def _run(self, inp: ShardBackupInput) -> ShardBackupResult:
        """The shard backup's steps in their recorded order.

        Kept as one sequence on purpose: every command here is in recorded histories, and
        the order of the steps is the workflow's contract (docs/workflow-versioning.md);
        splitting it is a refactor a replay test must watch, not a drive-by.
        """
        base = {
            "keyspace": inp.shard.keyspace,
            "shard": inp.shard.shard,
            "strategy": inp.strategy,
            "backup_id": inp.backup_id,
            "workflow_id": workflow.info().workflow_id,
        }
        if inp.offset_seconds > 0:
            self._phase = "staggering"
            await workflow.sleep(
                timedelta(seconds=inp.offset_seconds), summary="deterministic stagger offset"
            )

        skip_reason = await self._claim_slot(inp)
        if skip_reason is not None:
            return self._finish(ShardBackupResult(
                **base, outcome=Outcome.SKIPPED, reason=skip_reason
            ))

        self._phase = "readiness"
        readiness = await workflow.execute_activity(
            names.CHECK_SHARD_READINESS,
            CheckShardReadinessInput(
                shard=inp.shard,
                credentials=inp.credentials,
                max_replica_lag_seconds=inp.policy.max_replica_lag_seconds,
                readiness=inp.policy.readiness,
                require_backup_in=None if self._first_backup_allowed(inp)
                else inp.policy.destination,
                cluster=inp.cluster,
            ),
            result_type=CheckShardReadinessResult,
            **policies.READINESS.options(),
        )
        if not readiness.ready:
            return self._finish(ShardBackupResult(
                **base, outcome=Outcome.SKIPPED, reason=readiness.reason or "not ready"
            ))

        source = await workflow.execute_activity(
            names.CHOOSE_SOURCE,
            ChooseSourceInput(shard=inp.shard, readiness=readiness, target=inp.policy.target),
            result_type=ChooseSourceResult,
            **policies.CHOOSE_SOURCE.options(),
        )
        workflow.logger.info("backup source chosen: %s", source.reason)
        # Keys unique per (schedule, strategy); recorded runs keep the key they started with.
        per_schedule = workflow.patched(PATCH_KEY_PER_SCHEDULE)
        directory = naming.backup_dir(inp.backup_id, inp.schedule, inp.strategy) \
            if per_schedule else inp.backup_id
        key = naming.backup_key(
            inp.policy.destination.prefix, inp.cluster, inp.shard.keyspace, inp.shard.shard,
            directory,
            stream_object_name(
                inp.policy.engine, inp.policy.compression, inp.policy.encryption
            ),
        )
        # The lease covers everything that moves bytes: the backup and its re-read.
        async with self._lease(inp):
            report = await self._backup(inp, source, key)
            self._phase = "verifying"
            verified = await workflow.execute_activity(
                names.VERIFY_UPLOAD,
                VerifyUploadInput(
                    destination=inp.policy.destination,
                    key=key,
                    expected_sha256=report.sha256,
                    expected_size_bytes=report.size_bytes,
                ),
                result_type=VerifyUploadResult,
                **policies.VERIFY.options(),
            )

        # metadata.json is written last: its presence is what makes the backup exist.
        self._phase = "committing"
        manifest = BackupManifest(
            cluster=inp.cluster,
            keyspace=inp.shard.keyspace,
            shard=inp.shard.shard,
            backup_id=inp.backup_id,
            schedule=inp.schedule,
            strategy=inp.strategy,
            source_instance=source.instance.name,
            source_role=source.instance.role.value,
            engine=report.engine,
            engine_version=report.engine_version,
            server_version=report.server_version,
            object_key=key,
            size_bytes=verified.size_bytes,
            sha256=verified.sha256,
            parts=report.parts,
            started_at=report.started_at,
            finished_at=report.finished_at,
            verified_at=workflow.now(),
            binlog=report.binlog,
            replica_source_binlog=report.replica_source_binlog,
            stream=report.stream,
            workflow_id=workflow.info().workflow_id,
            **({"storage_dir": directory, "trigger": "manual"
                if naming.is_manual_backup_id(inp.backup_id) else "scheduled"}
               if per_schedule else {}),
        )
        written = await workflow.execute_activity(
            names.WRITE_MANIFEST,
            WriteManifestInput(destination=inp.policy.destination, manifest=manifest),
            result_type=WriteManifestResult,
            **policies.MANIFEST.options(),
        )

        self._phase = "pruning"
        await self._prune(inp)
        return self._finish(ShardBackupResult(
            **base,
            outcome=Outcome.SUCCEEDED,
            source_instance=source.instance.name,
            source_reason=source.reason,
            size_bytes=verified.size_bytes,
            sha256=verified.sha256,
            started_at=report.started_at,
            finished_at=report.finished_at,
            manifest_key=written.key,
        ))

    @staticmethod
    def _first_backup_allowed(inp: ShardBackupInput) -> bool:
        # A logical dump seeds nothing, so the "initial backup" rule is for physical engines.
        return inp.policy.allow_first_backup or inp.policy.engine == "logical"

    async def _claim_slot(self, inp: ShardBackupInput) -> str | None:
        """Deadline and overlap after the stagger sleep (``overlap``); a reason to skip, or None.

        Runs recorded before the per-slot rules take the old path: every running backup of
        the schedule's shard counts, whatever its slot or strategy.
        """
        self._phase = "claiming"
        if inp.policy.starting_deadline_seconds and inp.slot_time is not None and (
            workflow.patched(overlap.PATCH_STARTING_DEADLINE)
        ):
            missed = overlap.missed_reason(inp)
            if missed is not None:
                return missed
        if workflow.patched(overlap.PATCH_SLOT_OVERLAP):
            overlap.claim(inp)
            if inp.policy.concurrency_policy == "Allow":
                return None
            earlier = await overlap.earlier_working(inp)
            if earlier and inp.policy.concurrency_policy == "Forbid":
                return overlap.forbid_reason(earlier)
            if earlier:
                await overlap.replace(earlier)
            return None
        return await overlap.recorded_overlap(inp)

    @contextlib.asynccontextmanager
    async def _lease(self, inp: ShardBackupInput) -> AsyncIterator[None]:
        """Hold one of the cluster's ``max_concurrent_shards`` slots for the block."""
        limit = inp.policy.max_concurrent_shards
        if not limit:
            yield
            return
        budget = naming.budget_workflow_id(inp.cluster)
        holder = workflow.info().workflow_id
        await workflow.execute_activity(
            names.REQUEST_LEASE,
            RequestLeaseInput(
                cluster=inp.cluster, budget_workflow_id=budget,
                task_queue=workflow.info().task_queue,
                request=LeaseRequest(holder=holder, limit=limit),
            ),
            **policies.RESOLVE.options(),
        )
        try:
            self._phase = "waiting for cluster budget"
            await workflow.wait_condition(lambda: self._lease_granted)
            yield
        finally:
            # also on failure and cancellation: a held slot must never outlive its holder
            await workflow.get_external_workflow_handle(budget).signal(
                names.SIGNAL_RELEASE_LEASE, holder
            )
            self._lease_granted = False

    async def _backup(
        self, inp: ShardBackupInput, source: ChooseSourceResult, key: str
    ) -> AgentBackupReport:
        """Launch the agent job and wait for it; a failed job is retried as a new job.

        One loop on purpose: the attempt counter, the job name derived from it and the
        cancellation path must stay together for the replayed command order to hold.
        """
        labels = naming.job_labels(
            inp.cluster, inp.schedule, inp.shard.keyspace, inp.shard.shard,
            strategy=inp.strategy, backup_id=inp.backup_id,
        )
        request = AgentBackupRequest(
            cluster=inp.cluster,
            keyspace=inp.shard.keyspace,
            shard=inp.shard.shard,
            backup_id=inp.backup_id,
            source=source.instance,
            credentials=inp.credentials,
            destination=inp.policy.destination,
            key=key,
            engine=inp.policy.engine,
            extra_flags=dict(inp.extra_flags),
            databases=list(inp.policy.databases),
            compression=inp.policy.compression,
            encryption=inp.policy.encryption,
        )
        last_error: ActivityError | None = None
        previous: list[str] = []
        for attempt in range(1, policies.BACKUP_JOB_ATTEMPTS + 1):
            job_name = naming.job_name(
                inp.cluster, inp.schedule, inp.shard.keyspace, inp.shard.shard, inp.strategy,
                inp.backup_id, attempt,
            )
            self._phase = "launching"
            await workflow.execute_activity(
                names.LAUNCH_BACKUP,
                LaunchBackupInput(
                    job_name=job_name, executor=inp.policy.executor, request=request,
                    labels=labels, supersedes=tuple(previous),
                ),
                result_type=LaunchBackupResult,
                **policies.LAUNCH.options(),
            )
            self._phase = "running"
            try:
                done = await workflow.execute_activity(
                    names.AWAIT_BACKUP,
                    AwaitBackupInput(
                        job_name=job_name,
                        executor=inp.policy.executor,
                        job_timeout_seconds=inp.policy.job_timeout_seconds,
                    ),
                    result_type=AwaitBackupResult,
                    cancellation_type=self._await_cancellation(),
                    **policies.AWAIT_BACKUP.options(),
                )
                report: AgentBackupReport = done.report
                return report
            except ActivityError as err:
                if is_cancelled_exception(err):
                    # This backup is cancelled (e.g. replaced): its job is stopped, the
                    # agent aborted its upload; it must close, never start a new job.
                    raise
                cause = err.cause
                # JobFailed means "this job is over, a new one may succeed"; any other
                # non-retryable error (bad credentials, timeout) fails the shard for good.
                if isinstance(cause, ApplicationError) and not new_job_may_succeed(cause):
                    raise self._fail(inp, cause.message, cause.type) from err
                last_error = err
                previous.append(job_name)
                workflow.logger.warning(
                    "backup job failed; starting a new one",
                    extra={"job_name": job_name, "attempt": attempt},
                )
        message = root_cause(last_error).message if last_error else "backup failed"
        raise self._fail(inp, message, JobFailed.__name__) from last_error

    @staticmethod
    def _await_cancellation() -> workflow.ActivityCancellationType:
        # A cancelled (e.g. replaced) backup closes only once its job has stopped and the
        # agent has aborted its upload; recorded runs keep the old fire-and-forget cancel.
        if workflow.patched(overlap.AWAIT_BACKUP_CANCEL):
            return workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
        return workflow.ActivityCancellationType.TRY_CANCEL

    async def _prune(self, inp: ShardBackupInput) -> None:
        """Retention and job history; best effort: a failed prune never fails the backup."""
        labels = naming.job_labels(inp.cluster, inp.schedule, inp.shard.keyspace, inp.shard.shard)
        try:
            await workflow.execute_activity(
                names.PRUNE_JOBS,
                PruneJobsInput(
                    executor=inp.policy.executor,
                    labels=labels,
                    successful_jobs_history_limit=inp.policy.successful_jobs_history_limit,
                    failed_jobs_history_limit=inp.policy.failed_jobs_history_limit,
                ),
                result_type=PruneJobsResult,
                **policies.PRUNE.options(),
            )
            await workflow.execute_activity(
                names.PRUNE_BACKUPS,
                PruneBackupsInput(
                    destination=inp.policy.destination,
                    cluster=inp.cluster,
                    keyspace=inp.shard.keyspace,
                    shard=inp.shard.shard,
                    retention=inp.policy.retention,
                    now=workflow.now(),
                    schedule=inp.schedule,
                    strategy=inp.strategy,
                    job_timeout_seconds=inp.policy.job_timeout_seconds,
                ),
                result_type=PruneBackupsResult,
                **policies.PRUNE.options(),
            )
        except ActivityError as err:
            workflow.logger.warning("pruning failed; will retry on the next run",
                                    extra={"error": str(err.cause)})

    def _finish(self, result: ShardBackupResult) -> ShardBackupResult:
        self._phase = "done"
        workflow.upsert_search_attributes([search.OUTCOME.value_set(result.outcome.value)])
        return result

    def _fail(
        self, inp: ShardBackupInput, message: str, error_type: str | None
    ) -> ApplicationError:
        self._phase = "done"
        workflow.upsert_search_attributes([search.OUTCOME.value_set(Outcome.FAILED.value)])
        return ApplicationError(
            f"backup of {inp.shard.keyspace}/{inp.shard.shard} failed: {message}",
            type=error_type or JobFailed.__name__,
            non_retryable=True,
        )
