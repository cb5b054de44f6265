"""activities/failures.py: domain errors become ApplicationErrors in one place."""

from __future__ import annotations

from datetime import timedelta

from shardkeeper.activities.failures import MAX_MESSAGE_CHARS, to_application_error
from shardkeeper.errors import (
    BackupExists,
    EndpointUnavailable,
    JobFailed,
    JobRejected,
    JobUnreachable,
    SpecInvalid,
)


def test_permanent_errors_become_non_retryable() -> None:
    for err in (SpecInvalid("bad"), BackupExists("committed"), JobRejected("422")):
        app = to_application_error(err)
        assert app.type == type(err).__name__ and app.non_retryable


def test_job_failed_is_non_retryable_for_the_activity() -> None:
    app = to_application_error(JobFailed("job x failed"))
    assert (app.type, app.non_retryable) == ("JobFailed", True)


def test_temporary_errors_stay_retryable_with_their_delay() -> None:
    app = to_application_error(EndpointUnavailable("503", retry_after_seconds=3))
    assert not app.non_retryable and app.next_retry_delay == timedelta(seconds=3)
    assert not to_application_error(JobUnreachable("no runner")).non_retryable


def test_long_messages_keep_their_tail() -> None:
    app = to_application_error(SpecInvalid("x" * MAX_MESSAGE_CHARS + "the end"))
    assert len(app.message) == MAX_MESSAGE_CHARS and app.message.endswith("the end")
