"""Worker settings from SHARDKEEPER_* environment variables (Temporal's own come from envconfig)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from shardkeeper.contracts import names


def default_state_dir() -> Path:
    """Where a one-host installation keeps its state (jobs, dev server database)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "shardkeeper"


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker needs beyond the Temporal connection."""

    task_queue: str = names.DEFAULT_TASK_QUEUE
    jobs_dir: Path = default_state_dir() / "jobs"
    graceful_shutdown_seconds: float = 30.0

    @classmethod
    def from_env(cls) -> WorkerSettings:
        """Settings from SHARDKEEPER_TASK_QUEUE, SHARDKEEPER_JOBS_DIR, ..."""
        return cls(
            task_queue=os.environ.get("SHARDKEEPER_TASK_QUEUE", names.DEFAULT_TASK_QUEUE),
            jobs_dir=Path(os.environ.get("SHARDKEEPER_JOBS_DIR", str(cls.jobs_dir))),
            graceful_shutdown_seconds=float(
                os.environ.get("SHARDKEEPER_GRACEFUL_SHUTDOWN_SECONDS", "30")
            ),
        )
