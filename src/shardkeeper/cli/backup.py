"""``shardkeeper backup now``: a one-shot backup (``kind: Backup``) outside any schedule.

Like ``kubectl cloudnative-mysql backup``: everything about *how* defaults to the cluster's
BackupSchedule in the given files, so ``backup now --cluster demo -f deploy/`` backs up to
where the nightly backups go (``control/manual_backups.py`` starts the runs).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from shardkeeper.cli.options import (
    DEFAULT_TASK_QUEUE,
    Address,
    ClusterName,
    Files,
    Namespace,
    TaskQueue,
)
from shardkeeper.cli.runner import run

app = typer.Typer(help="One-shot backups.", no_args_is_help=True)


@app.command("now")
def now(
    filename: Files,
    cluster: ClusterName = None,
    keyspace: Annotated[str | None, typer.Option(help="Only this keyspace.")] = None,
    shard: Annotated[str | None, typer.Option(help="Only this shard (needs --keyspace).")]
    = None,
    wait: Annotated[bool, typer.Option(help="Wait for the run and print its result.")] = True,
    address: Address = None,
    namespace: Namespace = None,
    task_queue: TaskQueue = DEFAULT_TASK_QUEUE,
) -> None:
    """Back up a cluster, a keyspace or a shard now (or every ``kind: Backup`` in the files)."""
    from shardkeeper.cli.output import emit
    from shardkeeper.control import connect, manual_backups
    from shardkeeper.spec.load import load
    from shardkeeper.spec.validate import check_references

    async def go() -> None:
        specs = load(filename)
        check_references(specs)
        requests = manual_backups.requests(specs, cluster=cluster, keyspace=keyspace,
                                           shard=shard, now=datetime.now(UTC))
        client = await connect.connect(address, namespace)
        for req in requests:
            started = await manual_backups.start(client, specs, req, task_queue)
            typer.echo(f"backup/{started.name} started: workflow {started.workflow_id}, "
                       f"backup id {started.backup_id}")
            if not wait:
                continue
            result = await started.handle.result()
            emit([{"keyspace": s.keyspace, "shard": s.shard, "outcome": s.outcome.value,
                   "size_bytes": s.size_bytes, "reason": s.reason} for s in result.shards],
                 ["keyspace", "shard", "outcome", "size_bytes", "reason"], "table",
                 f"backup {result.backup_id}")

    run(go())
