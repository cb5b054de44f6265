"""Where a backup's raw bytes come from, whatever runs the engine.

This module owns the :class:`Source` protocol and :func:`open_source`, which picks the kind:
the engine run here as a child process (:class:`~.local_engine.LocalEngine`, the default),
or, when the request names a ``sidecar``, the engine run by ``shardkeeper agent serve`` in
the database pod and streamed over mTLS (:class:`~.sidecar_source.SidecarSource`; on
Kubernetes only that pod can read the datadir). Both show every raw byte to the engine's
observer (binlog position, versions) and both decide completion the same way: the local
engine by its exit status and success line, the sidecar by its final status frame, which
carries the same verdict. A logical engine runs only locally: it connects to the server
itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from shardkeeper.contracts.agent import AgentBackupRequest
from shardkeeper.datapath.backup.local_engine import LocalEngine
from shardkeeper.datapath.backup.sidecar_source import SidecarSource
from shardkeeper.datapath.backup.stream import Tap
from shardkeeper.datapath.engines import Engine
from shardkeeper.errors import SpecInvalid


class Source(Protocol):
    """The engine's raw output and its verdict, wherever the engine runs."""

    @property
    def reader(self) -> Any:
        """The raw stream: ``readinto`` and ``read``; every byte is shown to the observer."""
        ...

    @property
    def bytes_read(self) -> int:
        """Raw bytes read so far."""
        ...

    def finish(self) -> None:
        """At end of stream: raise EngineFailed unless the engine finished OK."""
        ...

    def close(self) -> None:
        """Stop the engine if it still runs and release everything; idempotent."""
        ...


def check_source(request: AgentBackupRequest, engine: Engine) -> None:
    """Refuse a source the engine cannot use, before anything is opened.

    Raises:
        SpecInvalid: A sidecar was named for an engine that is not physical.
    """
    if request.sidecar is not None and engine.format != "xbstream":
        raise SpecInvalid(
            f"engine {engine.name} cannot stream from a sidecar (only physical engines do); "
            "a logical dump connects to the server itself"
        )


def open_source(
    request: AgentBackupRequest,
    engine: Engine,
    workdir: Path,
    *,
    on_idle: Callable[[], None],
    observer: Tap,
) -> Source:
    """Start the engine here, or in the sidecar the request names.

    Args:
        request: The backup request (``sidecar`` selects the remote source).
        engine: The request's engine.
        workdir: A private (0700) directory removed by the caller.
        on_idle: Called about once a second while the engine writes nothing.
        observer: Sees every raw byte in order.

    Raises:
        SpecInvalid, EngineUnsupported: The engine cannot be started as requested.
        EndpointUnavailable: The sidecar is unreachable, busy or refused the client.
    """
    if request.sidecar is not None:
        return SidecarSource(request, request.sidecar, workdir, on_idle, observer)
    return LocalEngine(request, engine, workdir, on_idle, observer)
