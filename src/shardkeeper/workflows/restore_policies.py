"""Named timeouts and retry policies of the restore saga's activities.

Forward steps have small retry budgets: a restore that cannot proceed should stop and
compensate rather than hammer a fenced shard. Compensations retry long and patiently; they
are idempotent, and giving up leaves a target needing a person.
"""

from __future__ import annotations

from datetime import timedelta

from shardkeeper.workflows.policies import ActivityPolicy

RESOLVE_SET = ActivityPolicy(start_to_close=timedelta(minutes=5), maximum_attempts=5)
VERIFY_BACKUP = ActivityPolicy(
    start_to_close=timedelta(hours=12), heartbeat=timedelta(seconds=60), maximum_attempts=5
)
INSPECT = ActivityPolicy(start_to_close=timedelta(seconds=60), maximum_attempts=5)
FENCE = ActivityPolicy(
    start_to_close=timedelta(minutes=15), heartbeat=timedelta(seconds=60), maximum_attempts=5
)
SET_ASIDE = ActivityPolicy(
    start_to_close=timedelta(hours=2), heartbeat=timedelta(seconds=60), maximum_attempts=5
)
# One agent job per instance; the activity attaches to it on retry (deterministic job name).
# A job that failed is not replaced: the shard compensates and the operator decides.
# A short heartbeat timeout: the SDK sends heartbeats (and so learns of a cancel) at most
# every 0.8 x timeout, and a cancelled restore should stop its agents within seconds.
STAGE = ActivityPolicy(
    start_to_close=timedelta(hours=48),
    heartbeat=timedelta(seconds=10),
    maximum_attempts=10,
    maximum_interval=timedelta(seconds=10),
)
START = ActivityPolicy(
    start_to_close=timedelta(minutes=15), heartbeat=timedelta(seconds=30), maximum_attempts=3
)
VALIDATE = ActivityPolicy(
    start_to_close=timedelta(hours=2), heartbeat=timedelta(seconds=60), maximum_attempts=3
)
UNFENCE = ActivityPolicy(
    start_to_close=timedelta(minutes=15),
    heartbeat=timedelta(seconds=60),
    maximum_attempts=20,
    maximum_interval=timedelta(seconds=60),
)
DISCARD = ActivityPolicy(
    start_to_close=timedelta(hours=2),
    heartbeat=timedelta(seconds=60),
    maximum_attempts=20,
    maximum_interval=timedelta(seconds=60),
)
# Compensations: idempotent, retried for about an hour before a person is needed.
COMPENSATE = ActivityPolicy(
    start_to_close=timedelta(hours=2),
    heartbeat=timedelta(seconds=60),
    maximum_attempts=60,
    maximum_interval=timedelta(seconds=60),
)
