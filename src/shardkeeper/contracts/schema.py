"""JSON Schemas of the wire contracts, the documented API for clients in any language.

``docs/reference/<Model>.json`` is generated from these models (``python -m
shardkeeper.contracts.schema docs/reference``); a test fails when the files drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from shardkeeper.contracts.agent import AgentBackupReport, AgentBackupRequest
from shardkeeper.contracts.backup import (
    BackupRunInput,
    BackupRunProgress,
    BackupRunResult,
    ShardBackupInput,
    ShardBackupResult,
)
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.contracts.restore import (
    ApproveInput,
    CancelInput,
    RestoreInput,
    RestoreProgress,
    RestoreResult,
    ShardRestoreInput,
    ShardRestoreResult,
)
from shardkeeper.contracts.verify import (
    AgentVerifyReport,
    AgentVerifyRequest,
    VerifyBackupsInput,
    VerifyBackupsProgress,
    VerifyBackupsResult,
)

# The entry points foreign clients use: workflow inputs/results, queries, metadata.json.
PUBLIC_MODELS: tuple[type[BaseModel], ...] = (
    BackupRunInput,
    BackupRunResult,
    BackupRunProgress,
    ShardBackupInput,
    ShardBackupResult,
    BackupManifest,
    AgentBackupRequest,
    AgentBackupReport,
    RestoreInput,
    RestoreProgress,
    RestoreResult,
    ApproveInput,
    CancelInput,
    ShardRestoreInput,
    ShardRestoreResult,
    VerifyBackupsInput,
    VerifyBackupsProgress,
    VerifyBackupsResult,
    AgentVerifyRequest,
    AgentVerifyReport,
)


def schemas() -> dict[str, str]:
    """File name → JSON Schema text of every public model."""
    return {
        f"{m.__name__}.json": json.dumps(m.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for m in PUBLIC_MODELS
    }


def write(directory: Path) -> None:
    """Write every schema into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in schemas().items():
        (directory / name).write_text(text)


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/reference"))
