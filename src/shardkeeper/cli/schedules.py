"""``get schedules``, ``describe schedule`` and ``schedule pause|resume|trigger|backfill``.

Every operation is the Temporal Schedule operation of the same name; the equivalent
``temporal schedule ...`` command is printed in each command's help.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

import typer
import yaml
from rich.panel import Panel

from shardkeeper.cli.options import Address, Namespace, Output, OutputFormat
from shardkeeper.cli.output import emit, fail, out
from shardkeeper.cli.runner import run

get_app = typer.Typer(help="List resources (kubectl-style).", no_args_is_help=True)
describe_app = typer.Typer(help="Show one resource in detail.", no_args_is_help=True)
schedule_app = typer.Typer(help="Operate on applied schedules.", no_args_is_help=True)

Cluster = Annotated[str, typer.Option("--cluster", "-c", help="Cluster name.")]
Name = Annotated[str, typer.Argument(help="BackupSchedule name (metadata.name).")]


def _ts(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


@get_app.command("schedules")
def get_schedules(
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="Only this cluster.")]
    = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table, wide, json or yaml.")]
    = "table",
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """Applied schedules (`temporal schedule list`)."""
    from shardkeeper.control import connect, status
    from shardkeeper.errors import SpecInvalid

    if output not in ("table", "wide", "json", "yaml"):
        fail(SpecInvalid(f"--output: unknown value {output!r}; accepted: table, wide, json, yaml"))

    async def go() -> None:
        client = await connect.connect(address, namespace)
        rows = [asdict(r) for r in await status.list_schedules(client, cluster)]
        for r in rows:
            r["last_run"], r["next_run"] = _ts(r["last_run"]), _ts(r["next_run"])
        cols = ["name", "cluster", "when", "paused", "last_run", "next_run"]
        if output == "wide":
            cols += ["schedule_id", "note"]
        emit(rows, cols, "table" if output == "wide" else output, "backup schedules")

    run(go())


@describe_app.command("schedule")
def describe_schedule(
    name: Name,
    cluster: Cluster,
    output: Output = OutputFormat.TABLE,
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """Spec summary, paused or not, last and next run and last result per shard.

    Long only in its table declarations: one ``emit`` per section the view prints.
    """
    from shardkeeper.control import connect, status

    async def go() -> None:
        client = await connect.connect(address, namespace)
        d = await status.describe(client, cluster, name)
        doc = {
            "schedule": asdict(d.summary),
            "running_runs": d.running_runs,
            "missed_catch_up_window": d.missed_catchup,
            "shards": [asdict(s) for s in d.shards],
            "skipped": d.skipped,
            "strategies": [s.model_dump(mode="json") for s in d.run_input.strategies]
            if d.run_input else [],
            "destination": d.run_input.policy.destination.model_dump(mode="json", exclude={
                "credentials"}) if d.run_input else None,
        }
        if output != OutputFormat.TABLE:
            text = json.dumps(doc, indent=2, default=str)
            typer.echo(text if output == OutputFormat.JSON else
                       yaml.safe_dump(json.loads(text), sort_keys=False))
            return
        s = d.summary
        lines = [f"schedule id: {s.schedule_id}", f"when:        {s.when}",
                 f"paused:      {s.paused}" + (f" ({s.note})" if s.note else ""),
                 f"last run:    {_ts(s.last_run)}", f"next run:    {_ts(s.next_run)}"]
        if d.run_input:
            p = d.run_input.policy
            lines += [f"destination: {d.destination}",
                      f"engine:      {p.engine}"
                      + (f" ({', '.join(p.databases)})" if p.databases else "")
                      + (f", {p.compression.algorithm} level {p.compression.level}"
                         if p.compression else "")
                      + (", encrypted (aes-256-gcm)" if p.encryption else ""),
                      "strategies:  " + ", ".join(
                          f"{st.name} ({st.scope.value}"
                          + (f" {st.keyspace}" if st.keyspace else "")
                          + (f"/{st.shard}" if st.shard else "") + ")"
                          for st in d.run_input.strategies),
                      f"policy:      concurrency {p.concurrency_policy}, max concurrent shards "
                      f"{p.max_concurrent_shards or 'unlimited'}, retention "
                      f"{p.retention.retention_days}d"
                      + (f"/last {p.retention.keep_last}" if p.retention.keep_last else "")]
        out.print(Panel("\n".join(lines), title=f"backupschedule/{name}"))
        rows = [{**asdict(x), "next_run": _ts(x.next_run),
                 "offset": f"+{x.offset_seconds}s" if x.offset_seconds is not None else "-",
                 "duration": f"{x.last_duration_seconds:.0f}s"
                 if x.last_duration_seconds is not None else "-"} for x in d.shards]
        emit(rows, ["keyspace", "shard", "strategy", "offset", "next_run", "last_backup_id",
                    "last_outcome", "last_size_bytes", "duration", "last_error"],
             "table", "shards")
        if d.skipped:
            emit(d.skipped, ["keyspace", "shard", "strategy", "reason"], "table", "skipped")
        cleanups = [asdict(x) for x in d.shards if x.last_cleanup_time]
        if cleanups:
            emit(cleanups, ["keyspace", "shard", "strategy", "last_cleanup_time",
                            "last_cleanup"], "table", "last cleanup")

    run(go())


@schedule_app.command("trigger")
def trigger(name: Name, cluster: Cluster, address: Address = None,
            namespace: Namespace = None) -> None:
    """Run now (`temporal schedule trigger --schedule-id shardkeeper/C/NAME`)."""
    from shardkeeper.control import connect, schedules

    async def go() -> None:
        await schedules.trigger(await connect.connect(address, namespace), cluster, name)
        typer.echo(f"backupschedule/{name} triggered")

    run(go())


@schedule_app.command("pause")
def pause(name: Name, cluster: Cluster,
          note: Annotated[str, typer.Option(help="Why (shown in the Web UI).")] = "paused",
          address: Address = None, namespace: Namespace = None) -> None:
    """Pause (`temporal schedule toggle --pause --schedule-id ... --reason NOTE`)."""
    from shardkeeper.control import connect, schedules

    async def go() -> None:
        await schedules.pause(await connect.connect(address, namespace), cluster, name, note)
        typer.echo(f"backupschedule/{name} paused")

    run(go())


@schedule_app.command("resume")
def resume(name: Name, cluster: Cluster,
           note: Annotated[str, typer.Option(help="Why (shown in the Web UI).")] = "resumed",
           address: Address = None, namespace: Namespace = None) -> None:
    """Resume (`temporal schedule toggle --unpause --schedule-id ... --reason NOTE`)."""
    from shardkeeper.control import connect, schedules

    async def go() -> None:
        await schedules.resume(await connect.connect(address, namespace), cluster, name, note)
        typer.echo(f"backupschedule/{name} resumed")

    run(go())


@schedule_app.command("backfill")
def backfill(
    name: Name, cluster: Cluster,
    start: Annotated[datetime, typer.Option("--from", help="Start (exclusive), RFC 3339.")],
    end: Annotated[datetime, typer.Option("--to", help="End (inclusive), RFC 3339.")],
    address: Address = None, namespace: Namespace = None,
) -> None:
    """Run the slots missed in a window (`temporal schedule backfill --start-time --end-time`)."""
    from shardkeeper.control import connect, schedules

    start_at = start if start.tzinfo else start.replace(tzinfo=UTC)
    end_at = end if end.tzinfo else end.replace(tzinfo=UTC)

    async def go() -> None:
        await schedules.backfill(await connect.connect(address, namespace), cluster, name,
                                 start_at, end_at)
        typer.echo(f"backupschedule/{name} backfilled {_ts(start_at)} .. {_ts(end_at)}")

    run(go())
