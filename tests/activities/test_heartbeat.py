"""Heartbeater: the latest details go out on exit, on failure and on worker shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from shardkeeper.activities.heartbeat import Heartbeater
from shardkeeper.contracts.base import Contract


class Step(Contract):
    """Heartbeat details of the test activities."""

    n: int


def _env(beats: list[Any]) -> ActivityEnvironment:
    env = ActivityEnvironment()
    # a long interval (20 s): any beat after the first comes from an event, not the timer
    env.info = dataclasses.replace(env.info, heartbeat_timeout=timedelta(seconds=60))
    env.on_heartbeat = lambda *details: beats.append(details[0] if details else None)
    return env


async def test_the_final_beat_carries_the_latest_details() -> None:
    beats: list[Any] = []
    step = Step(n=0)

    async def work() -> None:
        nonlocal step
        async with Heartbeater(lambda: step):
            await asyncio.sleep(0)  # let the first beat go out
            step = Step(n=3)

    await _env(beats).run(work)
    assert beats == [{"n": 0}, {"n": 3}]


async def test_a_failing_block_still_beats_and_keeps_its_error() -> None:
    beats: list[Any] = []

    async def work() -> None:
        async with Heartbeater(lambda: Step(n=7)):
            raise ValueError("the block's own failure")

    with pytest.raises(ValueError, match="own failure"):
        await _env(beats).run(work)
    assert beats[-1] == {"n": 7}


async def test_worker_shutdown_beats_at_once_and_cancellation_beats_last() -> None:
    beats: list[Any] = []
    env = _env(beats)
    step = Step(n=1)
    started = asyncio.Event()
    shutdown_beat = asyncio.Event()

    def on_beat(*details: Any) -> None:
        beats.append(details[0])
        started.set()
        if details[0] == {"n": 2}:
            shutdown_beat.set()

    env.on_heartbeat = on_beat

    async def work() -> None:
        async with Heartbeater(lambda: step):
            await asyncio.Event().wait()  # until cancelled

    async def drive() -> None:
        nonlocal step
        await started.wait()
        step = Step(n=2)
        env.worker_shutdown()
        await asyncio.wait_for(shutdown_beat.wait(), 5)  # not 20 s later
        step = Step(n=4)
        env.cancel()

    driver = asyncio.create_task(drive())
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(env.run(work), 10)
    await driver
    assert beats == [{"n": 1}, {"n": 2}, {"n": 4}]
