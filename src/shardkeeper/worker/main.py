"""run_worker: the ``shardkeeper worker`` process, and a context manager tests and ``up`` use.

SIGTERM and SIGINT start a graceful shutdown: polling stops, running activities get
``graceful_shutdown_seconds`` to finish; an activity waiting on a backup job leaves the job
running so the next worker re-attaches to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from shardkeeper.worker.interceptors import ErrorMappingInterceptor
from shardkeeper.worker.registry import WORKFLOWS, activities
from shardkeeper.worker.settings import WorkerSettings

log = structlog.get_logger(__name__)

WORKFLOW_FAILURE_EXCEPTION_TYPES: tuple[type[BaseException], ...] = ()
"""Exceptions that fail a whole workflow instead of its workflow task: none, on purpose.

In particular not ``NondeterminismError`` (nor a base of it such as ``Exception``): a
workflow whose code changed incompatibly must keep failing its *workflow task* (retried,
the run stays Running) until the code is fixed, never end Failed mid-saga, because a failed
Restore could no longer run its compensations. See docs/workflow-versioning.md.
"""


def build_worker(client: Client, settings: WorkerSettings) -> Worker:
    """A Worker with every workflow and activity registered."""
    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=activities(settings.jobs_dir),
        interceptors=[ErrorMappingInterceptor()],
        workflow_failure_exception_types=WORKFLOW_FAILURE_EXCEPTION_TYPES,
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
        # blocking libraries run via asyncio.to_thread; give that pool room
        activity_executor=ThreadPoolExecutor(max_workers=32),
    )


@contextlib.asynccontextmanager
async def running_worker(client: Client, settings: WorkerSettings) -> AsyncIterator[Worker]:
    """Run a worker in the background for the duration of the block."""
    worker = build_worker(client, settings)
    async with worker:
        yield worker


async def run_worker(client: Client, settings: WorkerSettings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    worker = build_worker(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", task_queue=settings.task_queue, jobs_dir=str(settings.jobs_dir))
    task = asyncio.create_task(worker.run())
    await stop.wait()
    log.info("worker shutting down")
    await worker.shutdown()
    await task
