"""``shardkeeper plan``: validate documents and show every shard's slot, offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
import yaml

from shardkeeper.cli.options import Files, Output, OutputFormat
from shardkeeper.cli.output import emit, fail
from shardkeeper.errors import ShardkeeperError, SpecInvalid

Count = Annotated[
    int, typer.Option("--count", min=0, max=1000, help="Next run times shown per shard.")
]
Now = Annotated[
    str | None,
    typer.Option("--now", help="Plan as if it were this RFC 3339 time (default: now)."),
]


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise SpecInvalid(
            f"--now: {text!r} is not an RFC 3339 time with an offset "
            "(e.g. 2026-03-28T12:00:00Z or 2026-03-28T12:00:00+01:00)"
        )
    # The plan counts runs (and a month of stagger) from here: the calendar's first and
    # last years would overflow datetime on the way.
    if not 1970 <= value.year <= 9000:
        raise SpecInvalid(f"--now: {text!r} is outside the years 1970 to 9000 a plan counts in")
    return value


def plan(
    filename: Files,
    count: Count = 3,
    output: Output = OutputFormat.TABLE,
    now: Now = None,
) -> None:
    """Validate the documents and print, per shard, its offset, cron line and next runs.

    Offline: reads only the files (no Temporal, object store or database).
    """
    from shardkeeper.control.plan import human_offset, plan_files

    try:
        result = plan_files(filename, now=_now(now), count=count)
    except ShardkeeperError as error:
        fail(error)
    doc = result.as_dict()
    if output == OutputFormat.JSON:
        typer.echo(json.dumps(doc, indent=2))
        return
    if output == OutputFormat.YAML:
        typer.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)
        return
    rows = [
        {**e, "offset": human_offset(e["offset_seconds"]), "cron": e["cron"] or "-",
         "next_runs": "\n".join(e["next_runs"]) or ("(suspended)" if e["suspended"] else "")}
        for e in doc["entries"]
    ]
    emit(rows, ["schedule", "keyspace", "shard", "strategy", "offset", "cron", "next_runs"],
         "table", "plan")
    if doc["excluded"]:
        emit(doc["excluded"], ["schedule", "strategy", "keyspace", "reason"], "table",
             "excluded from Cluster-scope strategies")
