"""BackupRun: one scheduled (or manual) run of a BackupSchedule.

Reads the topology at run time (an activity, so a reshard needs no schedule edit), expands
the strategies to shards, and starts one ShardBackup child per shard, each delayed by its
deterministic stagger offset. It waits for the children so its result is the run's record;
the Temporal Schedule uses overlap ALLOW_ALL, so a run spread over a whole period never makes
the next scheduled run skip (README: "Overlap").

Keyspace ownership is decided when a scheduled run starts (``keyspace_owners``): a keyspace
that a Keyspace-scope strategy of another active schedule of the cluster owns then is left
out of this run's Cluster-scope strategies, with a skip naming that schedule. A run started
by hand keeps the exclusions its input carries (none for ``backup now``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from shardkeeper import naming, scopes, stagger
    from shardkeeper.contracts import names
    from shardkeeper.contracts.backup import (
        BackupRunInput,
        BackupRunProgress,
        BackupRunResult,
        Outcome,
        PlannedShard,
        ResolveShardsInput,
        ResolveShardsResult,
        Scope,
        ShardBackupInput,
        ShardBackupResult,
        SkippedShard,
        StrategyPlan,
    )
    from shardkeeper.contracts.catalog import (
        ExistingBackupsInput,
        ExistingBackupsResult,
        PruneRemovedShardsInput,
        PruneRemovedShardsResult,
        RemovedShardPruned,
        ShardPair,
        ShardRef,
    )
    from shardkeeper.contracts.common import Topology
    from shardkeeper.contracts.ownership import (
        KeyspaceOwner,
        KeyspaceOwnersInput,
        KeyspaceOwnersResult,
    )
    from shardkeeper.workflows import policies, search
    from shardkeeper.workflows.failures import root_cause
    from shardkeeper.workflows.shard_backup import ShardBackupWorkflow


def backup_id_of_run(inp: BackupRunInput) -> str:
    """Backup id of this run: the schedule's nominal time, else the start time plus a suffix.

    TemporalScheduledStartTime is set by the Schedule, so a retried or replayed run targets
    the same keys; a run started otherwise gets a suffix so it never collides with a slot:
    a first-backup run's marks it as the schedule's, a run by hand's as manual.
    """
    info = workflow.info()
    scheduled = info.typed_search_attributes.get(search.SCHEDULED_START)
    if scheduled is not None:
        return naming.backup_id_for(scheduled)
    if inp.only_shards_without_backup:
        return naming.backup_id_for(info.start_time, naming.first_backup_suffix(info.workflow_id))
    return naming.backup_id_for(info.start_time, naming.manual_suffix(info.workflow_id))


PRUNE_REMOVED_SHARDS_PATCH = "prune-removed-shards"
"""Patch id of pruning, at the end of a scheduled run, shards a reshard removed."""


OWNERS_AT_RUN_TIME_PATCH = "keyspace-owners-at-run-time"
"""Patch id of deciding keyspace ownership from the schedules that exist when a run starts."""


def owners_at_run_time(inp: BackupRunInput) -> bool:
    """Whether this run reads keyspace owners from the cluster's schedules now.

    As the input says; an input written before the field existed decides by who started the
    run: a Temporal Schedule (scheduled, triggered, backfilled) yes, a person (``backup now``)
    no, since a backup asked for by hand is excluded from nothing.
    """
    if inp.keyspace_owners_at_run_time is not None:
        return inp.keyspace_owners_at_run_time
    return workflow.info().typed_search_attributes.get(search.SCHEDULED_START) is not None


def skipped_as_owned(
    topology: Topology, strategies: Sequence[StrategyPlan], owners: Sequence[KeyspaceOwner]
) -> list[SkippedShard]:
    """A skip per shard that a Cluster-scope strategy leaves to another schedule's owner."""
    by_keyspace: dict[str, list[str]] = {}
    for o in owners:
        by_keyspace.setdefault(o.keyspace, []).append(f"strategy {o.strategy!r} of schedule "
                                                      f"{o.schedule!r}")
    own = {s.keyspace for s in strategies if s.scope == Scope.KEYSPACE}
    return [
        SkippedShard(keyspace=sh.keyspace, shard=sh.shard, strategy=st.name,
                     reason=f"keyspace owned by {', '.join(by_keyspace[sh.keyspace])}")
        for st in strategies if st.scope == Scope.CLUSTER
        for sh in sorted(topology.shards, key=lambda x: (x.keyspace, x.shard))
        if sh.keyspace in by_keyspace and sh.keyspace not in own
    ]


@workflow.defn(name=names.BACKUP_RUN)
class BackupRunWorkflow:
    """Fan out one ShardBackup child per shard of the schedule's strategies."""

    def __init__(self) -> None:
        self._progress = BackupRunProgress()

    @workflow.query(name="progress")
    def progress(self) -> BackupRunProgress:
        """The children this run started (with offsets), skipped shards, how many finished."""
        return self._progress

    @workflow.run
    async def run(self, inp: BackupRunInput) -> BackupRunResult:
        """Resolve, expand, stagger, fan out, collect.

        One sequence on purpose, like ShardBackup's: its commands are in recorded histories
        (docs/workflow-versioning.md), so it changes only behind ``workflow.patched``.
        """
        backup_id = inp.backup_id or backup_id_of_run(inp)
        workflow.upsert_search_attributes([
            search.CLUSTER.value_set(inp.cluster),
            search.SCHEDULE.value_set(inp.schedule),
            search.BACKUP_ID.value_set(backup_id),
        ])
        resolved = await workflow.execute_activity(
            names.RESOLVE_SHARDS,
            ResolveShardsInput(source=inp.topology_source),
            result_type=ResolveShardsResult,
            **policies.RESOLVE.options(),
        )
        topology = resolved.topology
        excluded: tuple[str, ...] = inp.excluded_keyspaces
        owned_skips: list[SkippedShard] = []
        # Histories recorded before ownership moved to run time replay without the activity.
        if owners_at_run_time(inp) and workflow.patched(OWNERS_AT_RUN_TIME_PATCH):
            owners = await workflow.execute_activity(
                names.KEYSPACE_OWNERS,
                KeyspaceOwnersInput(cluster=inp.cluster),
                result_type=KeyspaceOwnersResult,
                **policies.RESOLVE.options(),
            )
            others = [o for o in owners.owners if o.schedule != inp.schedule]
            excluded = tuple(sorted({o.keyspace for o in others}))
            owned_skips = skipped_as_owned(topology, inp.strategies, others)
        targets, skips = scopes.expand(topology, inp.strategies, excluded)
        skipped = [SkippedShard(keyspace=s.keyspace, shard=s.shard, strategy=s.strategy,
                                reason=s.reason) for s in skips] + owned_skips
        if inp.only_shards_without_backup:
            targets, have = await self._without_backup(inp, targets)
            skipped += have
        keys = {t: stagger.StaggerKey(inp.cluster, t.keyspace, t.shard, t.strategy)
                for t in targets}
        offsets = stagger.offsets(keys.values(), inp.stagger_window_seconds)
        shard_of = {(s.keyspace, s.shard): s for s in topology.shards}
        flags = {s.name: s.extra_flags for s in inp.strategies}
        self._progress = BackupRunProgress(backup_id=backup_id, skipped=tuple(skipped))
        planned: list[PlannedShard] = []

        handles = []
        for target in sorted(targets, key=lambda t: (offsets[keys[t]], t)):
            offset = offsets[keys[target]]
            child_id = naming.shard_workflow_id(
                inp.cluster, inp.schedule, backup_id, target.keyspace, target.shard,
                target.strategy,
            )
            planned.append(PlannedShard(
                keyspace=target.keyspace, shard=target.shard, strategy=target.strategy,
                offset_seconds=offset, workflow_id=child_id,
            ))
            self._progress = self._progress.model_copy(update={"planned": tuple(planned)})
            handle = await workflow.start_child_workflow(
                ShardBackupWorkflow.run,
                ShardBackupInput(
                    cluster=inp.cluster,
                    schedule=inp.schedule,
                    strategy=target.strategy,
                    backup_id=backup_id,
                    shard=shard_of[(target.keyspace, target.shard)],
                    credentials=topology.credentials,
                    policy=inp.policy,
                    offset_seconds=offset,
                    extra_flags=dict(flags.get(target.strategy, {})),
                    slot_time=workflow.info().typed_search_attributes.get(
                        search.SCHEDULED_START),
                    run_started_at=workflow.info().workflow_start_time,
                ),
                id=child_id,
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
                search_attributes=search.attributes(
                    cluster=inp.cluster, schedule=inp.schedule, keyspace=target.keyspace,
                    shard=target.shard, backup_id=backup_id,
                ),
                static_summary=f"{target.keyspace}/{target.shard} at +{offset}s",
                # the child's own timeouts bound it; this only stops a stuck one for good
                execution_timeout=timedelta(seconds=inp.stagger_window_seconds) + timedelta(days=3),
            )
            handles.append((target, handle))

        results = await asyncio.gather(
            *(self._collect(t, h, backup_id) for t, h in handles)
        )
        pruned: tuple[RemovedShardPruned, ...] = ()
        if workflow.info().typed_search_attributes.get(search.SCHEDULED_START) is not None and (
            workflow.patched(PRUNE_REMOVED_SHARDS_PATCH)
        ):
            pruned = await self._prune_removed(inp, topology)
        return BackupRunResult(
            cluster=inp.cluster,
            schedule=inp.schedule,
            backup_id=backup_id,
            shards=tuple(results),
            skipped=tuple(skipped),
            removed_shards_pruned=pruned,
        )

    async def _without_backup(
        self, inp: BackupRunInput, targets: list[scopes.Target]
    ) -> tuple[list[scopes.Target], list[SkippedShard]]:
        """The targets with no committed backup of their (schedule, strategy), and skips."""
        existing = await workflow.execute_activity(
            names.EXISTING_BACKUPS,
            ExistingBackupsInput(
                destination=inp.policy.destination, cluster=inp.cluster, schedule=inp.schedule,
                targets=tuple(ShardPair(keyspace=t.keyspace, shard=t.shard, strategy=t.strategy)
                              for t in targets),
            ),
            result_type=ExistingBackupsResult,
            **policies.RESOLVE.options(),
        )
        have = {(e.keyspace, e.shard, e.strategy): e.backup_id for e in existing.found}
        skips = [
            SkippedShard(keyspace=t.keyspace, shard=t.shard, strategy=t.strategy,
                         reason=f"has committed backup {have[(t.keyspace, t.shard, t.strategy)]} "
                                "of this schedule: a first backup is for shards without one")
            for t in targets if (t.keyspace, t.shard, t.strategy) in have
        ]
        return [t for t in targets if (t.keyspace, t.shard, t.strategy) not in have], skips

    async def _prune_removed(
        self, inp: BackupRunInput, topology: Topology
    ) -> tuple[RemovedShardPruned, ...]:
        """Age out this schedule's backups of shards gone from the topology; best effort."""
        try:
            result = await workflow.execute_activity(
                names.PRUNE_REMOVED_SHARDS,
                PruneRemovedShardsInput(
                    destination=inp.policy.destination, cluster=inp.cluster,
                    schedule=inp.schedule,
                    present=tuple(ShardRef(keyspace=s.keyspace, shard=s.shard)
                                  for s in topology.shards),
                    retention_days=inp.policy.retention.retention_days, now=workflow.now(),
                    job_timeout_seconds=inp.policy.job_timeout_seconds,
                ),
                result_type=PruneRemovedShardsResult,
                **policies.PRUNE.options(),
            )
        except ActivityError as err:
            workflow.logger.warning("pruning removed shards failed; the next run retries",
                                    extra={"error": str(err.cause)})
            return ()
        pruned: tuple[RemovedShardPruned, ...] = result.pruned
        return pruned

    async def _collect(
        self,
        target: scopes.Target,
        handle: workflow.ChildWorkflowHandle[ShardBackupWorkflow, ShardBackupResult],
        backup_id: str,
    ) -> ShardBackupResult:
        """A child's result; a failed child becomes a ``failed`` entry, not a failed run."""
        try:
            result = await handle
        except ChildWorkflowError as err:
            cause = root_cause(err)
            result = ShardBackupResult(
                keyspace=target.keyspace,
                shard=target.shard,
                strategy=target.strategy,
                backup_id=backup_id,
                outcome=Outcome.FAILED,
                reason=f"{cause.type}: {cause.message}",
                workflow_id=handle.id,
            )
        self._progress = self._progress.model_copy(
            update={"finished": self._progress.finished + 1}
        )
        return result
