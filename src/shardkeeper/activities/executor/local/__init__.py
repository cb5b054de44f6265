"""The local executor's room: agent jobs as detached processes on this host.

``executor`` holds :class:`LocalExecutor` and how the races of launching are closed;
``status`` reads a job directory into a ``JobStatus``; ``cancel`` stops a job's processes;
``launch_lock`` and ``tails`` are the small file mechanics both use. The runner process itself
is ``shardkeeper.activities.executor.local_runner``, outside this room so that starting it
imports no asyncio.
"""

from shardkeeper.activities.executor.local.executor import (
    DEFAULT_CANCEL_GRACE_SECONDS,
    DEFAULT_START_TIMEOUT_SECONDS,
    LocalExecutor,
)
from shardkeeper.activities.executor.local.launch_lock import STARTING_GRACE_SECONDS

__all__ = [
    "DEFAULT_CANCEL_GRACE_SECONDS",
    "DEFAULT_START_TIMEOUT_SECONDS",
    "STARTING_GRACE_SECONDS",
    "LocalExecutor",
]
