"""The error taxonomy: what each kind of failure lets a retry do."""

from __future__ import annotations

import pytest

from shardkeeper import errors
from shardkeeper.errors import (
    AccessDenied,
    BackupExists,
    EngineFailed,
    JobFailed,
    JobRejected,
    JobUnreachable,
    PermanentError,
    ShardkeeperError,
    TemporaryError,
)


def _module_classes(root: type[ShardkeeperError]) -> set[type[ShardkeeperError]]:
    found: set[type[ShardkeeperError]] = set()
    pending = [root]
    while pending:
        cls = pending.pop()
        if cls.__module__ == errors.__name__:
            found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_permanent_class_is_non_retryable_and_no_temporary_one_is() -> None:
    names = errors.non_retryable_types()
    assert {c.__name__ for c in _module_classes(PermanentError)} <= names
    assert not {c.__name__ for c in _module_classes(TemporaryError)} & names
    # decided explicitly when the list stopped being written by hand
    assert {BackupExists.__name__, JobRejected.__name__} <= names


def test_job_failed_ends_the_wait_but_leaves_room_for_a_new_job() -> None:
    failed = JobFailed("job x failed")
    assert failed.type == "JobFailed"  # the name recorded histories carry
    assert failed.retryable and not failed.retried_by_activity
    assert not isinstance(failed, (PermanentError, TemporaryError))
    assert JobFailed.__name__ in errors.non_retryable_types()


def test_an_unreachable_job_is_retried_by_the_activity() -> None:
    err = JobUnreachable("runner did not start")
    assert isinstance(err, TemporaryError) and err.retried_by_activity and err.retryable
    assert JobUnreachable.__name__ not in errors.non_retryable_types()


def test_types_defined_elsewhere_do_not_change_the_list() -> None:
    before = errors.non_retryable_types()

    class ElsewherePermanent(PermanentError):
        pass

    assert errors.non_retryable_types() == before
    assert ElsewherePermanent("x").type == "ElsewherePermanent"


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("AccessDenied", AccessDenied),
        ("JobTimedOut", errors.JobTimedOut),
        ("EngineFailed", PermanentError),  # a temporary name on a permanent exit stays permanent
        ("NoSuchClass", PermanentError),
        (None, PermanentError),
    ],
)
def test_reported_error_keeps_known_permanent_types(
    reported: str | None, expected: type[PermanentError]
) -> None:
    err = errors.reported_error(reported, "job x failed: boom")
    assert type(err) is expected
    assert str(err) == "job x failed: boom"


def test_temporary_errors_carry_their_retry_delay() -> None:
    err = EngineFailed("exit 1", retry_after_seconds=7)
    assert err.retry_after_seconds == 7 and err.retryable
