"""VerifyBackups: re-read stored backups through the executor and collect the verdicts.

List the backup directories the input names (committed or not: a lost metadata.json is a
finding), then run one ``shardkeeper agent verify`` job per directory, ``parallel`` at a
time. Each job writes its verdict beside the backup; this workflow's result is the list.
A failed check is a verdict (the run completes); a store that cannot be read fails the run.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from shardkeeper import naming
    from shardkeeper.contracts import names
    from shardkeeper.contracts.verify import (
        AgentVerifyReport,
        AgentVerifyRequest,
        ListVerifyTargetsInput,
        ListVerifyTargetsResult,
        VerifyBackupsInput,
        VerifyBackupsProgress,
        VerifyBackupsResult,
        VerifyJobInput,
        VerifyTarget,
    )
    from shardkeeper.workflows import policies, search

VERIFY_JOB = policies.ActivityPolicy(
    start_to_close=timedelta(hours=12), heartbeat=timedelta(seconds=10), maximum_attempts=5,
)


@workflow.defn(name=names.VERIFY_BACKUPS)
class VerifyBackupsWorkflow:
    """One verify job per backup directory; the verdicts are the result."""

    def __init__(self) -> None:
        self._progress = VerifyBackupsProgress()

    @workflow.query(name="progress")
    def progress(self) -> VerifyBackupsProgress:
        """How many backups there are to check, how many are checked and how many failed."""
        return self._progress

    @workflow.run
    async def run(self, inp: VerifyBackupsInput) -> VerifyBackupsResult:
        """List, then check ``parallel`` at a time, in listing order."""
        workflow.upsert_search_attributes([search.CLUSTER.value_set(inp.cluster)])
        listed = await workflow.execute_activity(
            names.LIST_VERIFY_TARGETS,
            ListVerifyTargetsInput(cluster=inp.cluster, destination=inp.destination,
                                   keyspace=inp.keyspace, shard=inp.shard, backup=inp.backup),
            result_type=ListVerifyTargetsResult,
            **policies.RESOLVE.options(),
        )
        self._progress = VerifyBackupsProgress(targets=len(listed.targets))
        gate = asyncio.Semaphore(max(1, inp.parallel))
        run = workflow.info().workflow_id.rsplit("/", 1)[-1]
        reports = await asyncio.gather(*(self._check(inp, t, gate, run)
                                         for t in listed.targets))
        return VerifyBackupsResult(reports=tuple(reports))

    async def _check(self, inp: VerifyBackupsInput, target: VerifyTarget,
                     gate: asyncio.Semaphore, run: str) -> AgentVerifyReport:
        async with gate:
            report: AgentVerifyReport = await workflow.execute_activity(
                names.VERIFY_BACKUP_JOB,
                VerifyJobInput(
                    request=AgentVerifyRequest(
                        cluster=inp.cluster, keyspace=target.keyspace, shard=target.shard,
                        backup_id=target.backup_id, directory=target.directory,
                        destination=inp.destination),
                    executor=inp.executor,
                    job_name=naming.verify_job_name(inp.cluster, target.keyspace, target.shard,
                                                    target.directory, run),
                ),
                result_type=AgentVerifyReport,
                **VERIFY_JOB.options(),
            )
        self._progress = self._progress.model_copy(update={
            "done": self._progress.done + 1,
            "failed": self._progress.failed + (report.result == "failed")})
        return report
