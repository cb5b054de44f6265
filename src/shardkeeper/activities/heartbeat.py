"""Heartbeater: keeps a long activity alive and carries its progress as details.

Heartbeats are sent every third of the activity's heartbeat timeout with whatever the
``details`` callable returns (a pydantic model, dumped to JSON-able data). Without a
heartbeat timeout the activity would never learn it was cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType

from pydantic import BaseModel
from temporalio import activity

DEFAULT_INTERVAL_SECONDS = 10.0


class Heartbeater:
    """``async with Heartbeater(lambda: details):`` heartbeats in the background."""

    def __init__(self, details: Callable[[], BaseModel | None]) -> None:
        self._details = details
        self._task: asyncio.Task[None] | None = None

    def beat(self) -> None:
        """Heartbeat now with the current details."""
        d = self._details()
        if d is None:
            activity.heartbeat()
        else:
            activity.heartbeat(d.model_dump(mode="json"))

    async def _loop(self, interval: float) -> None:
        while True:
            self.beat()
            await asyncio.sleep(interval)

    async def __aenter__(self) -> Heartbeater:
        timeout = activity.info().heartbeat_timeout
        interval = timeout.total_seconds() / 3 if timeout else DEFAULT_INTERVAL_SECONDS
        self._task = asyncio.create_task(self._loop(max(interval, 0.5)))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
