"""Heartbeater: keeps a long activity alive and carries its progress as details.

Heartbeats are sent every third of the activity's heartbeat timeout with whatever the
``details`` callable returns (a pydantic model, dumped to JSON-able data). Without a
heartbeat timeout the activity would never learn it was cancelled.

The latest details also go out at once when the worker starts shutting down and once more
when the block ends (success, failure or cancellation): the next attempt reads them as
``heartbeat_details``, so they must not be up to an interval stale.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType

import structlog
from pydantic import BaseModel
from temporalio import activity

log = structlog.get_logger(__name__)

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
        # asyncio.wait, not wait_for: on Python 3.11 wait_for swallows a cancel that lands
        # just as the shutdown event fires, and this loop would then never end.
        shutdown = asyncio.ensure_future(activity.wait_for_worker_shutdown())
        try:
            while not shutdown.done():
                self.beat()
                await asyncio.wait([shutdown], timeout=interval)
        finally:
            shutdown.cancel()
        # The worker is shutting down: hand over the latest details now, then keep the
        # activity alive until the worker cancels it (its graceful timeout may be long).
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
        try:
            self.beat()  # the final state, whatever ended the block
        except Exception:  # never mask the block's own outcome with a heartbeat problem
            log.warning("heartbeat.final_failed", exc_info=True)
