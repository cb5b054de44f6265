"""list_verify_targets, verify_backup_job: ``backups verify`` through the executor.

The worker only lists keys and waits: the stored bytes are re-read by a
``shardkeeper agent verify`` job the executor runs beside the data (a local process, or a
Kubernetes Job), which also writes the verdict beside the backup.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio import activity

from shardkeeper import naming
from shardkeeper.activities.agent_job import wait_for_job
from shardkeeper.activities.executor.base import Executor, JobSpec
from shardkeeper.activities.jobs import JobActivities
from shardkeeper.contracts import names
from shardkeeper.contracts.agent import AgentProgress
from shardkeeper.contracts.base import Contract
from shardkeeper.contracts.common import ExecutorConfig
from shardkeeper.contracts.verify import (
    AgentVerifyReport,
    ListVerifyTargetsInput,
    ListVerifyTargetsResult,
    VerifyJobInput,
    VerifyTarget,
)
from shardkeeper.datapath.stores.catalog import backup_directories

AGENT_VERIFY_ARGV = [sys.executable, "-m", "shardkeeper.agent", "verify"]


class VerifyHeartbeat(Contract):
    """Heartbeat details of ``verify_backup_job``."""

    job_name: str
    bytes_read: int = 0


@activity.defn(name=names.LIST_VERIFY_TARGETS)
async def list_verify_targets(inp: ListVerifyTargetsInput) -> ListVerifyTargetsResult:
    """Every backup directory the selection names, committed or not (keys only)."""
    found = await asyncio.to_thread(backup_directories, inp.destination, inp.cluster,
                                    inp.keyspace, inp.shard if inp.keyspace else None)
    targets = []
    for keyspace, shard, directory in found:
        backup_id, _tag = naming.split_backup_dir(directory)
        if inp.backup is not None and inp.backup not in (backup_id, directory):
            continue
        targets.append(VerifyTarget(keyspace=keyspace, shard=shard, directory=directory,
                                    backup_id=backup_id))
    return ListVerifyTargetsResult(targets=tuple(targets))


class VerifyActivities:
    """Runs verify jobs through the executor a config names."""

    def __init__(self, jobs_dir: Path, agent_argv: list[str] | None = None) -> None:
        self._jobs = JobActivities(jobs_dir)  # for its executor lookup, the one place of it
        self._agent_argv = list(agent_argv or AGENT_VERIFY_ARGV)

    def _executor(self, config: ExecutorConfig) -> Executor:
        return self._jobs.executor(config)

    @activity.defn(name=names.VERIFY_BACKUP_JOB)
    async def verify_backup_job(self, inp: VerifyJobInput) -> AgentVerifyReport:
        """Launch (or attach to) the verify job of one backup and wait for its verdict."""
        r = inp.request
        spec = JobSpec(
            name=inp.job_name, argv=list(self._agent_argv), request_json=r.model_dump_json(),
            labels={**naming.job_labels(r.cluster, "verify", r.keyspace, r.shard),
                    "shardkeeper.io/backup-id": r.backup_id},
        )

        def beat(p: AgentProgress) -> VerifyHeartbeat:
            return VerifyHeartbeat(job_name=inp.job_name, bytes_read=p.bytes_streamed or 0)

        report = await wait_for_job(self._executor(inp.executor), inp.job_name,
                                    VerifyHeartbeat(job_name=inp.job_name), beat, launch=spec)
        return AgentVerifyReport.model_validate_json(report)
