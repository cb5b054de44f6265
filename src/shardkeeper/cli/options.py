"""Options shared by several commands (connection flags match the ``temporal`` CLI)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from shardkeeper.contracts import names

Address = Annotated[
    str | None,
    typer.Option("--address", envvar="TEMPORAL_ADDRESS", help="Temporal frontend host:port."),
]
Namespace = Annotated[
    str | None,
    typer.Option("--namespace", "-n", envvar="TEMPORAL_NAMESPACE", help="Temporal namespace."),
]
TaskQueue = Annotated[
    str,
    typer.Option("--task-queue", envvar="SHARDKEEPER_TASK_QUEUE", help="Worker task queue."),
]
DEFAULT_TASK_QUEUE = names.DEFAULT_TASK_QUEUE
Files = Annotated[
    list[Path],
    typer.Option("--filename", "-f", help="YAML file or directory (repeatable)."),
]
ClusterName = Annotated[
    str | None, typer.Option("--cluster", "-c", help="Cluster name."),
]

# --- restore ------------------------------------------------------------------------------
RestoreFiles = Annotated[
    list[Path] | None,
    typer.Option("--filename", "-f", help="Restore, Cluster, BackupSchedule YAML (repeatable)."),
]
RestoreName = Annotated[str, typer.Argument(help="Restore name.")]
RestoreCluster = Annotated[
    str | None, typer.Option("--cluster", help="Cluster of the restore (default: any)."),
]


class OutputFormat(StrEnum):
    """Accepted values of -o/--output."""

    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


Output = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", help="table, json or yaml."),
]
