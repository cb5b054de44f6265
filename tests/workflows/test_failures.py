"""workflows/failures.py and the derived retry policy: how workflows read failures."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError, RetryState

from shardkeeper.errors import (
    AccessDenied,
    BackupExists,
    JobFailed,
    JobRejected,
    JobTimedOut,
    SpecInvalid,
    non_retryable_types,
)
from shardkeeper.workflows import policies
from shardkeeper.workflows.failures import (
    NEW_JOB_MAY_SUCCEED,
    failure,
    new_job_may_succeed,
    root_cause,
)


def _activity_error(cause: BaseException) -> ActivityError:
    err = ActivityError(
        "activity failed", scheduled_event_id=1, started_event_id=2, identity="w",
        activity_type="await_backup", activity_id="1", retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    err.__cause__ = cause
    return err


def test_root_cause_is_the_innermost_application_error() -> None:
    inner = ApplicationError("S3 refused the key", type="AccessDenied", non_retryable=True)
    outer = ApplicationError("shard failed", type="ShardRestoreFailed")
    outer.__cause__ = _activity_error(inner)
    assert root_cause(outer) is inner


def test_root_cause_of_a_plain_exception_names_its_class() -> None:
    cause = root_cause(TimeoutError("late"))
    assert (cause.type, cause.message) == ("TimeoutError", "late")


def test_a_new_job_follows_job_failed_and_retryable_causes_only() -> None:
    # "JobFailed" is the name in recorded histories: it must keep meaning "start a new job"
    assert NEW_JOB_MAY_SUCCEED == {JobFailed.__name__} == {"JobFailed"}
    assert new_job_may_succeed(ApplicationError("x", type="JobFailed", non_retryable=True))
    assert new_job_may_succeed(ApplicationError("x", type="EndpointUnavailable"))
    for permanent in (AccessDenied, JobTimedOut, BackupExists):
        assert not new_job_may_succeed(failure(permanent, "x"))


def test_failure_takes_name_and_retryability_from_the_class() -> None:
    err = failure(SpecInvalid, "no target shard matches customer/80-")
    assert (err.type, err.non_retryable) == ("SpecInvalid", True)
    assert err.message == "no target shard matches customer/80-"


def test_retry_policies_never_retry_what_errors_py_calls_permanent() -> None:
    retry = policies.AWAIT_BACKUP.options()["retry_policy"]
    listed = set(retry.non_retryable_error_types)
    assert listed == non_retryable_types()
    assert {"BackupExists", "JobRejected", "SpecInvalid", "JobTimedOut"} <= listed
    assert "EndpointUnavailable" not in listed and "JobUnreachable" not in listed
    assert list(retry.non_retryable_error_types) == sorted(listed)  # stable across runs
    assert JobRejected.__name__ in listed
