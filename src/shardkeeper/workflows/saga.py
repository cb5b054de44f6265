"""A compensation stack for workflows: register the undo before the step, unwind in reverse.

Each forward step that changes a target pushes its compensation (an activity name and its
input) *before* it runs, so a step that fails half-way, times out or is cancelled is still
undone. :meth:`Saga.compensate` runs the stack newest first. It is shielded: a second
cancellation request cannot abort it half-way, and every compensation runs even if an
earlier one failed for good (the failure is recorded, never masking the original error).
Compensations must be idempotent; they retry with a generous policy.

The stack is plain data (labels, activity names, pydantic inputs), deterministic and
replay-safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from shardkeeper.contracts.restore import CompensationOutcome
    from shardkeeper.workflows import restore_policies as policies


T = TypeVar("T")


async def shielded(aw: Awaitable[T]) -> T:
    """Await ``aw`` to the end even if cancellation is requested meanwhile.

    A cancel request is delivered to the workflow's current await; shielding keeps the inner
    task running, and the loop waits for it again instead of abandoning it.
    """
    task = asyncio.ensure_future(aw)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                return task.result()
            workflow.logger.warning("cancel requested during compensation; continuing")


@dataclass(frozen=True)
class Compensation:
    """One registered undo: run ``activity`` with ``arg``."""

    label: str
    activity: str
    arg: BaseModel


class Saga:
    """The compensation stack of one workflow run."""

    def __init__(self) -> None:
        self._stack: list[Compensation] = []
        self.outcomes: list[CompensationOutcome] = []
        self._results: list[tuple[str, Any]] = []

    def add(self, label: str, activity: str, arg: BaseModel) -> None:
        """Register the undo of the step about to run (call *before* the step)."""
        self._stack.append(Compensation(label, activity, arg))

    def discard(self) -> None:
        """Forget the stack: the steps are committed and must never be undone."""
        self._stack.clear()

    @property
    def entries(self) -> tuple[Compensation, ...]:
        """The registered compensations, oldest first."""
        return tuple(self._stack)

    def results_of(self, activity: str) -> list[Any]:
        """Raw (JSON) results of the compensations of ``activity`` that succeeded."""
        return [r for a, r in self._results if a == activity]

    @property
    def pending(self) -> tuple[str, ...]:
        """Labels of the registered compensations, oldest first."""
        return tuple(c.label for c in self._stack)

    async def compensate(self) -> list[CompensationOutcome]:
        """Run every registered compensation, newest first, shielded from cancellation.

        Returns:
            One outcome per compensation (also kept in :attr:`outcomes`).
        """
        # A second cancel while unwinding must not leave a target half-restored.
        return await shielded(self._unwind())

    async def _unwind(self) -> list[CompensationOutcome]:
        while self._stack:
            step = self._stack.pop()
            try:
                result = await workflow.execute_activity(
                    step.activity,
                    step.arg,
                    summary=f"compensate: {step.label}",
                    **policies.COMPENSATE.options(),
                )
                self._results.append((step.activity, result))
                self.outcomes.append(
                    CompensationOutcome(label=step.label, activity=step.activity, ok=True)
                )
            except ActivityError as err:
                cause = err.cause
                message = str(cause) if cause is not None else str(err)
                workflow.logger.error(
                    "compensation failed", extra={"label": step.label, "error": message}
                )
                self.outcomes.append(
                    CompensationOutcome(
                        label=step.label, activity=step.activity, ok=False, error=message
                    )
                )
        return list(self.outcomes)
