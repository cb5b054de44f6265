"""ShardkeeperError → Temporal ApplicationError, in one place.

Errors an activity must not retry (``retried_by_activity`` false: permanent ones and
:class:`~shardkeeper.errors.JobFailed`) become non-retryable; temporary ones keep their retry
delay. Messages are bounded so a chatty engine cannot blow up a history, and they never
contain secrets (domain code never puts them there; this module does not add any).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from shardkeeper.errors import ShardkeeperError, TemporaryError

MAX_MESSAGE_CHARS = 4000


def to_application_error(err: ShardkeeperError) -> ApplicationError:
    """The ApplicationError a workflow sees for a domain error."""
    message = str(err)
    if len(message) > MAX_MESSAGE_CHARS:
        message = "…" + message[-(MAX_MESSAGE_CHARS - 1):]
    delay = None
    if isinstance(err, TemporaryError) and err.retry_after_seconds is not None:
        delay = timedelta(seconds=err.retry_after_seconds)
    return ApplicationError(
        message, type=err.type, non_retryable=not err.retried_by_activity,
        next_retry_delay=delay,
    )
