"""``spec.executor``: which executor runs the backup agent, and its settings."""

from __future__ import annotations

from typing import Literal

from shardkeeper.contracts.common import ExecutorConfig
from shardkeeper.spec.base import SpecModel


class ExecutorSpec(SpecModel):
    """Which executor runs the backup agent."""

    kind: Literal["local"] = "local"
    jobs_dir: str | None = None
    """Local executor: where job state lives (default: the worker's jobs directory)."""


def executor_config(spec: ExecutorSpec) -> ExecutorConfig:
    """The wire form of an executor spec."""
    return ExecutorConfig(kind=spec.kind, jobs_dir=spec.jobs_dir)
