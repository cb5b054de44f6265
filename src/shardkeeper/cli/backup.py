"""``shardkeeper backup now``: a one-shot backup (``kind: Backup``) outside any schedule.

Like ``kubectl cloudnative-mysql backup``: everything about *how* defaults to the cluster's
BackupSchedule in the given files, so ``backup now --cluster demo -f deploy/`` backs up to
where the nightly backups go. It starts a ``BackupRun`` workflow directly (the same as
``temporal workflow start --type BackupRun --input '{...}'``); its backup id gets a suffix of
its own, so it never collides with a scheduled slot.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from shardkeeper.cli.options import DEFAULT_TASK_QUEUE, Address, Files, Namespace, TaskQueue

app = typer.Typer(help="One-shot backups.", no_args_is_help=True)


@app.command("now")
def now(
    filename: Files,
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="Cluster name.")]
    = None,
    keyspace: Annotated[str | None, typer.Option(help="Only this keyspace.")] = None,
    shard: Annotated[str | None, typer.Option(help="Only this shard (needs --keyspace).")]
    = None,
    wait: Annotated[bool, typer.Option(help="Wait for the run and print its result.")] = True,
    address: Address = None,
    namespace: Namespace = None,
    task_queue: TaskQueue = DEFAULT_TASK_QUEUE,
) -> None:
    """Back up a cluster, a keyspace or a shard now (or every ``kind: Backup`` in the files)."""
    from shardkeeper import naming
    from shardkeeper.cli.app import run
    from shardkeeper.cli.output import emit
    from shardkeeper.contracts import names
    from shardkeeper.contracts.backup import BackupRunResult
    from shardkeeper.control import connect
    from shardkeeper.errors import SpecInvalid
    from shardkeeper.spec.backup import Backup, BackupSpec
    from shardkeeper.spec.base import Metadata
    from shardkeeper.spec.convert import backup_run_input
    from shardkeeper.spec.load import Loaded, load
    from shardkeeper.spec.validate import check_references

    async def go() -> None:
        specs = load(filename)
        check_references(specs)
        stamp = datetime.now(UTC).strftime("%Y%m%dt%H%M%S")
        requests = list(specs.backups)
        if cluster is not None:
            doc = Backup(metadata=Metadata(name=f"now-{stamp}"),
                         spec=BackupSpec(cluster=cluster, keyspace=keyspace, shard=shard))
            requests.append(Loaded(doc, Path("<command line>"), 1))
        if not requests:
            raise SpecInvalid("nothing to back up: pass --cluster, or a kind: Backup document")
        client = await connect.connect(address, namespace)
        for req in requests:
            name = req.resource.metadata.name
            c = req.resource.spec.cluster  # type: ignore[union-attr]
            workflow_id = f"{naming.SCHEDULE_PREFIX}/{c}/manual/{name}"
            inp = backup_run_input(req, specs, backup_id_suffix=naming.manual_suffix(workflow_id))
            handle = await client.start_workflow(
                names.BACKUP_RUN, inp, id=workflow_id, task_queue=task_queue,
                result_type=BackupRunResult,
            )
            typer.echo(f"backup/{name} started: workflow {workflow_id}, backup id {inp.backup_id}")
            if not wait:
                continue
            result = await handle.result()
            emit([{"keyspace": s.keyspace, "shard": s.shard, "outcome": s.outcome.value,
                   "size_bytes": s.size_bytes, "reason": s.reason} for s in result.shards],
                 ["keyspace", "shard", "outcome", "size_bytes", "reason"], "table",
                 f"backup {result.backup_id}")

    run(go())
