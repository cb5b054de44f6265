"""Registry of backup engines, by the name used in requests and specs.

This module only maps names to engine objects; it must not import anything heavier than the
engine modules themselves. Adding an engine (e.g. xtrabackup) is one module plus one entry.
"""

from __future__ import annotations

from collections.abc import Callable

from shardkeeper.datapath.engines.base import (
    Engine,
    EngineCommand,
    PhysicalEngine,
    StreamFacts,
    StreamObserver,
)
from shardkeeper.datapath.engines.logical import LogicalEngine
from shardkeeper.datapath.engines.mariabackup import MariaBackupEngine
from shardkeeper.errors import EngineUnsupported

__all__ = [
    "ENGINES",
    "Engine",
    "EngineCommand",
    "PhysicalEngine",
    "StreamFacts",
    "StreamObserver",
    "get_engine",
]

ENGINES: dict[str, Callable[[], Engine]] = {
    "mariabackup": MariaBackupEngine,
    "mariadb-backup": MariaBackupEngine,
    "logical": LogicalEngine,
    "mariadb-dump": LogicalEngine,
}


def get_engine(name: str) -> Engine:
    """Return the engine registered as ``name``.

    Raises:
        EngineUnsupported: No engine has that name.
    """
    factory = ENGINES.get(name)
    if factory is None:
        raise EngineUnsupported(
            f"backup engine {name!r} is not supported; known: {', '.join(sorted(ENGINES))}"
        )
    return factory()
