"""Rendering: rich tables for people, JSON/YAML for programs; errors as one clear message."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
import yaml
from rich.console import Console
from rich.table import Table

from shardkeeper.errors import PermanentError, ShardkeeperError

# Piped output keeps whole rows (ids and digests are what people copy), so a width wide
# enough for them is used when no terminal says otherwise.
_PIPE_WIDTH = 160
out = Console(width=None if sys.stdout.isatty() else _PIPE_WIDTH)
err = Console(stderr=True, width=None if sys.stderr.isatty() else _PIPE_WIDTH)

EXIT_FAILED = 1
EXIT_INVALID = 2


def fail(error: ShardkeeperError) -> NoReturn:
    """Print the error without a traceback and exit: 2 for permanent (fix the input), else 1."""
    err.print(f"[bold red]error[/] ({error.type}):", end=" ")
    err.print(str(error), markup=False, highlight=False)
    raise typer.Exit(EXIT_INVALID if isinstance(error, PermanentError) else EXIT_FAILED)


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], output: str, title: str) -> None:
    """Print rows as a table (default), JSON or YAML on stdout."""
    if output == "json":
        typer.echo(json.dumps(list(rows), indent=2, default=str))
    elif output == "yaml":
        typer.echo(yaml.safe_dump(json.loads(json.dumps(list(rows), default=str)),
                                  sort_keys=False))
    else:
        table = Table(title=title)
        for c in columns:
            table.add_column(c.upper().replace("_", " "))
        for r in rows:
            table.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in columns))
        out.print(table)
