"""The error boundary every command runs its coroutine through.

Apart from ``cli/app.py`` so command modules can use it without importing the typer root
(which imports every command module: a circle).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from shardkeeper.cli.output import fail
from shardkeeper.errors import ShardkeeperError

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; domain errors become a message and an exit code."""
    try:
        return asyncio.run(coro)
    except ShardkeeperError as error:
        fail(error)
