"""Named timeouts and retry policies, one per activity kind.

Workflow code never writes a literal timedelta for an activity: it picks one of these.
Every policy has a finite retry budget so a broken shard surfaces instead of retrying forever.

Which failure types no retry can fix is not written here: it is every class of ``errors.py``
that an activity must not retry (``PermanentError`` and its subclasses, walked recursively,
and ``JobFailed``). Activities already raise those non-retryable; the list also covers a bare
type name (a fake in a test, a foreign activity). Deriving it made two types non-retryable
that the old hand-written list lacked, on purpose: ``BackupExists`` (a committed backup is
never rewritten; only the agent raises it, before streaming, and its permanent exit already
failed the wait for good; ``write_manifest`` never raises it, since it writes the same bytes
at the same key, so a retry after a lost response simply succeeds) and ``JobRejected`` (the
executor refused the job as invalid and refuses the same job again). ``JobFailed`` was never
retried by an activity either (the wait raised it non-retryable); ShardBackup then starts a
new job (``workflows/failures.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from shardkeeper.errors import non_retryable_types

# Sorted: the list is part of every ScheduleActivityTask command and must not vary by run.
_NON_RETRYABLE = sorted(non_retryable_types())


@dataclass(frozen=True)
class ActivityPolicy:
    """Timeouts and retries of one activity kind."""

    start_to_close: timedelta
    maximum_attempts: int
    heartbeat: timedelta | None = None
    initial_interval: timedelta = timedelta(seconds=1)
    maximum_interval: timedelta = timedelta(seconds=30)

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``workflow.execute_activity``."""
        return {
            "start_to_close_timeout": self.start_to_close,
            "heartbeat_timeout": self.heartbeat,
            "retry_policy": RetryPolicy(
                initial_interval=self.initial_interval,
                maximum_interval=self.maximum_interval,
                maximum_attempts=self.maximum_attempts,
                non_retryable_error_types=_NON_RETRYABLE,
            ),
        }


# A worker killed mid-activity is noticed by the server only when the activity's heartbeat
# (or, without one, its start-to-close) timeout expires; the retry then runs on a live
# worker. These bounds are therefore the time to recover from a lost worker
# (bench/reliability.py measures it): short for the quick steps, a 10 s heartbeat for the
# long ones (heartbeats go every third of it, so a busy event loop has margin).
RESOLVE = ActivityPolicy(start_to_close=timedelta(seconds=30), maximum_attempts=5)
READINESS = ActivityPolicy(
    start_to_close=timedelta(seconds=60), heartbeat=timedelta(seconds=10), maximum_attempts=3
)
CHOOSE_SOURCE = ActivityPolicy(start_to_close=timedelta(seconds=10), maximum_attempts=3)
LAUNCH = ActivityPolicy(
    start_to_close=timedelta(seconds=60), heartbeat=timedelta(seconds=10), maximum_attempts=5
)
# The wait can last hours; the heartbeat lets a restarted worker take over within seconds,
# and the next attempt attaches to the same job (the job name is deterministic).
AWAIT_BACKUP = ActivityPolicy(
    start_to_close=timedelta(hours=48),
    heartbeat=timedelta(seconds=10),
    maximum_attempts=20,
    maximum_interval=timedelta(seconds=10),
)
VERIFY = ActivityPolicy(
    start_to_close=timedelta(hours=12), heartbeat=timedelta(seconds=10), maximum_attempts=5
)
MANIFEST = ActivityPolicy(start_to_close=timedelta(seconds=30), maximum_attempts=5)
PRUNE = ActivityPolicy(
    start_to_close=timedelta(minutes=30), heartbeat=timedelta(seconds=20), maximum_attempts=3
)

# How many times the ShardBackup workflow starts a fresh job after a failed one.
BACKUP_JOB_ATTEMPTS = 3
