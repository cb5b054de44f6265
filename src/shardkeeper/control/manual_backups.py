"""One-shot backups (``kind: Backup`` documents, ``backup now``) started as BackupRun workflows.

Everything about *how* a one-shot backup runs comes from the cluster's BackupSchedule in the
same files, so it lands where the scheduled backups go. Each request starts one ``BackupRun``
workflow directly (the same as ``temporal workflow start --type BackupRun --input '{...}'``)
under ``naming.manual_run_workflow_id``; its backup id gets a suffix derived from that id, so
it never collides with a scheduled slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from shardkeeper import naming
from shardkeeper.contracts import names
from shardkeeper.contracts.backup import BackupRunResult
from shardkeeper.errors import SpecInvalid
from shardkeeper.spec.backup import Backup, BackupSpec
from shardkeeper.spec.base import Metadata
from shardkeeper.spec.convert import backup_run_input
from shardkeeper.spec.load import Loaded, SpecSet

COMMAND_LINE = Path("<command line>")
"""Where a request built from flags says it came from (in error messages)."""


@dataclass(frozen=True)
class StartedBackup:
    """One started one-shot backup."""

    name: str
    workflow_id: str
    backup_id: str | None
    """Set by ``backup_run_input`` for every one-shot run (a scheduled run derives its own)."""
    handle: WorkflowHandle[Any, BackupRunResult]


def requests(
    specs: SpecSet,
    *,
    cluster: str | None,
    keyspace: str | None,
    shard: str | None,
    now: datetime,
) -> list[Loaded]:
    """Every ``kind: Backup`` in ``specs``, plus one from flags when ``cluster`` is given.

    Raises:
        SpecInvalid: Nothing to back up (no flags and no Backup document).
    """
    found = list(specs.backups)
    if cluster is not None:
        doc = Backup(metadata=Metadata(name=naming.manual_backup_name(now)),
                     spec=BackupSpec(cluster=cluster, keyspace=keyspace, shard=shard))
        found.append(Loaded(doc, COMMAND_LINE, 1))
    if not found:
        raise SpecInvalid("nothing to back up: pass --cluster, or a kind: Backup document")
    return found


async def start(
    client: Client, specs: SpecSet, request: Loaded, task_queue: str
) -> StartedBackup:
    """Start the BackupRun of one request (``requests`` gives them)."""
    backup = request.resource
    if not isinstance(backup, Backup):  # pragma: no cover - requests() yields Backups only
        raise TypeError("expected a Backup document")
    workflow_id = naming.manual_run_workflow_id(backup.spec.cluster, backup.metadata.name)
    inp = backup_run_input(request, specs, backup_id_suffix=naming.manual_suffix(workflow_id))
    handle = await client.start_workflow(
        names.BACKUP_RUN, inp, id=workflow_id, task_queue=task_queue,
        result_type=BackupRunResult,
    )
    return StartedBackup(backup.metadata.name, workflow_id, inp.backup_id, handle)
