"""Failures as workflows see them: the root cause of a chain, and errors a workflow raises.

Workflows cannot raise the activities' domain errors (an exception that is not an
``ApplicationError`` fails the workflow task, not the workflow), so :func:`failure` builds the
``ApplicationError`` of an ``errors.py`` class: the type name is the class name, never a
string typed by hand, so a workflow's failures and its activities' read alike.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from shardkeeper.errors import JobFailed, ShardkeeperError

# Failure types after which the ShardBackup workflow starts a new job instead of failing the
# shard: the job is over, but a new one may succeed. Recorded histories carry "JobFailed"
# with exactly this meaning (tests/replay/histories), so the name must not change.
NEW_JOB_MAY_SUCCEED = frozenset({JobFailed.__name__})


def root_cause(err: BaseException) -> ApplicationError:
    """The innermost ApplicationError of a failure chain (what actually went wrong)."""
    found: ApplicationError | None = None
    current: BaseException | None = err
    while current is not None:
        if isinstance(current, ApplicationError):
            found = current
        current = current.__cause__ or getattr(current, "cause", None)
    return found or ApplicationError(str(err), type=type(err).__name__)


def new_job_may_succeed(cause: ApplicationError) -> bool:
    """Whether a failed job's cause leaves room for a new job.

    Yes for a retryable cause that outlived the activity's retries and for the types of
    :data:`NEW_JOB_MAY_SUCCEED`; no for any other non-retryable one (bad credentials, the
    job's timeout, ...): no new job can fix those.
    """
    return not cause.non_retryable or cause.type in NEW_JOB_MAY_SUCCEED


def failure(kind: type[ShardkeeperError], message: str) -> ApplicationError:
    """The ApplicationError a workflow raises for a domain error class ``kind``."""
    return ApplicationError(message, type=kind.__name__,
                            non_retryable=not kind.retried_by_activity)
