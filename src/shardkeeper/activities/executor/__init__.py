"""Executors: where agent jobs run (a detached local process, or a Kubernetes Job).

- ``base``: the ``Executor`` protocol, ``JobSpec``/``JobStatus``/``JobState`` and the agent
  contract (environment variables, exit codes, error file) every executor implements.
- ``local/``: ``LocalExecutor``, jobs as detached processes with state in a directory. Import
  it from ``shardkeeper.activities.executor.local``. This package does not import it: then
  ``python -m …local_runner`` would import the runner module before running it as
  ``__main__`` (runpy warns) and load asyncio into every runner for nothing.
- ``local_runner``: the per-job runner process ``LocalExecutor`` starts, and the job
  directory layout; ``procfs``: whether a process recorded in a pid file still lives.
- ``kubernetes/``: ``KubernetesExecutor`` and the API access it shares with discovery and
  fencing; ``render``: a ``JobSpec`` as a Job manifest.

Nothing here imports temporalio; the activities calling an executor heartbeat.
"""

from shardkeeper.activities.executor.base import (
    ERROR_FILE_ENV,
    EXIT_PERMANENT,
    EXIT_SUCCEEDED,
    EXIT_TEMPORARY,
    REPORT_FILE_ENV,
    REQUEST_FILE_ENV,
    Executor,
    JobSpec,
    JobState,
    JobStatus,
)

__all__ = [
    "ERROR_FILE_ENV",
    "EXIT_PERMANENT",
    "EXIT_SUCCEEDED",
    "EXIT_TEMPORARY",
    "REPORT_FILE_ENV",
    "REQUEST_FILE_ENV",
    "Executor",
    "JobSpec",
    "JobState",
    "JobStatus",
]
