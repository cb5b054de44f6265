"""Start ``VerifyBackups`` for the destinations of a cluster's schedules, and follow it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowHandle

from shardkeeper import naming
from shardkeeper.contracts import names
from shardkeeper.contracts.verify import VerifyBackupsInput, VerifyBackupsResult
from shardkeeper.errors import SpecInvalid
from shardkeeper.spec.convert import policy_of
from shardkeeper.spec.load import SpecSet
from shardkeeper.spec.schedule import BackupSchedule


@dataclass(frozen=True)
class Selection:
    """What to verify: a cluster, optionally one shard or one backup."""

    cluster: str
    keyspace: str | None = None
    shard: str | None = None
    backup: str | None = None
    schedule: str | None = None


def inputs(specs: SpecSet, selection: Selection) -> list[VerifyBackupsInput]:
    """One input per distinct destination of the cluster's schedules (its executor too).

    Raises:
        SpecInvalid: No BackupSchedule of the cluster (and schedule) in the files.
    """
    found: dict[str, VerifyBackupsInput] = {}
    for loaded in specs.schedules:
        doc = loaded.resource
        if not isinstance(doc, BackupSchedule) or doc.spec.cluster != selection.cluster:
            continue
        if selection.schedule is not None and doc.metadata.name != selection.schedule:
            continue
        policy = policy_of(doc.spec)
        found.setdefault(policy.destination.model_dump_json(), VerifyBackupsInput(
            cluster=selection.cluster, destination=policy.destination, executor=policy.executor,
            keyspace=selection.keyspace, shard=selection.shard, backup=selection.backup))
    if not found:
        raise SpecInvalid(f"no BackupSchedule of cluster {selection.cluster!r}"
                          + (f" named {selection.schedule!r}" if selection.schedule else "")
                          + " in the given files; its destination is where backups are read")
    return list(found.values())


async def start(client: Client, inp: VerifyBackupsInput, task_queue: str, index: int
                ) -> WorkflowHandle[object, VerifyBackupsResult]:
    """Start one VerifyBackups run (``temporal workflow start --type VerifyBackups``)."""
    stamp = datetime.now(UTC).strftime(naming.BACKUP_ID_FORMAT).lower()
    return await client.start_workflow(
        names.VERIFY_BACKUPS, inp,
        id=f"{naming.SCHEDULE_PREFIX}/{inp.cluster}/verify/{stamp}{index or ''}",
        task_queue=task_queue, result_type=VerifyBackupsResult,
        static_summary="re-read stored backups through the executor",
    )
