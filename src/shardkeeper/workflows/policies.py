"""Named timeouts and retry policies, one per activity kind.

Workflow code never writes a literal timedelta for an activity: it picks one of these.
Every policy has a finite retry budget so a broken shard surfaces instead of retrying forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

# Errors that no retry can fix; shardkeeper also marks its own permanent errors
# non-retryable when raising them, this list covers the bare class names.
_NON_RETRYABLE = [
    "SpecInvalid",
    "AccessDenied",
    "BucketMissing",
    "BackupNotFound",
    "BackupIncomplete",
    "ChecksumMismatch",
    "EngineUnsupported",
    "JobTimedOut",
]


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


RESOLVE = ActivityPolicy(start_to_close=timedelta(seconds=30), maximum_attempts=5)
READINESS = ActivityPolicy(start_to_close=timedelta(seconds=60), maximum_attempts=3)
CHOOSE_SOURCE = ActivityPolicy(start_to_close=timedelta(seconds=10), maximum_attempts=3)
LAUNCH = ActivityPolicy(start_to_close=timedelta(seconds=60), maximum_attempts=5)
# The wait can last hours; the heartbeat lets a restarted worker take over within a minute,
# and the next attempt attaches to the same job (the job name is deterministic).
AWAIT_BACKUP = ActivityPolicy(
    start_to_close=timedelta(hours=48),
    heartbeat=timedelta(seconds=30),
    maximum_attempts=20,
    maximum_interval=timedelta(seconds=10),
)
VERIFY = ActivityPolicy(
    start_to_close=timedelta(hours=12), heartbeat=timedelta(seconds=30), maximum_attempts=5
)
MANIFEST = ActivityPolicy(start_to_close=timedelta(seconds=60), maximum_attempts=5)
PRUNE = ActivityPolicy(
    start_to_close=timedelta(minutes=30), heartbeat=timedelta(seconds=60), maximum_attempts=3
)

# How many times the ShardBackup workflow starts a fresh job after a failed one.
BACKUP_JOB_ATTEMPTS = 3
