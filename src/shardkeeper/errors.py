"""The error taxonomy: every failure shardkeeper raises on purpose.

Domain code raises these; ``activities/failures.py`` turns them into Temporal
``ApplicationError`` in one place and the CLI (``cli/output.py``) turns them into exit codes.
This module imports nothing from temporalio so the agent and the spec loader can
use it.

    ShardkeeperError
    ├── PermanentError            never retried
    │   ├── SpecInvalid           a document or option rejected (CLI exit code 2)
    │   ├── AccessDenied          S3 403 / MySQL 1045
    │   ├── BucketMissing         the bucket does not exist
    │   ├── BackupNotFound        no such backup id or nothing under a prefix
    │   ├── BackupIncomplete      objects present but no metadata.json
    │   ├── BackupExists          a committed backup is immutable; never overwritten
    │   ├── ChecksumMismatch      stored bytes differ from what was streamed
    │   ├── EngineUnsupported     the backup engine is missing or refuses the server
    │   ├── JobTimedOut           the backup ran longer than the schedule's jobTimeout
    │   ├── JobRejected           the executor refused the job (Kubernetes 400/422)
    │   └── RestoreValidationFailed  the restored data does not check out
    ├── TemporaryError            retried by the activity's retry policy
    │   ├── ShardNotReady         no primary, or replicas not replicating
    │   ├── NoHealthySource       no instance can serve the backup
    │   ├── EndpointUnavailable   connection refused, timeouts, 5xx
    │   ├── EngineFailed          the engine exited non-zero or never said "completed OK!"
    │   ├── JobUnreachable        the executor cannot start, reach or stop the job right now
    │   └── InstanceRunning       an instance still serves where it must be stopped
    └── JobFailed                 this job ended failed: a *new* job may succeed

Two flags say what a retry can do. ``retryable``: a new attempt may succeed (the agent's exit
code 1 vs 2, the CLI's exit code). ``retried_by_activity``: the activity that raised it may
simply run again. They differ only for :class:`JobFailed`: the activity that watched a job end
failed cannot watch it again (non-retryable), but a new job may succeed, so the ShardBackup
workflow starts one and an executor may start a new pod for an agent that exited 1. The type
string "JobFailed" is in recorded histories with exactly that meaning (a non-retryable failure
of the wait after which a new job starts); it must keep its name.
"""

from __future__ import annotations


class ShardkeeperError(Exception):
    """Base of every error shardkeeper raises on purpose."""

    retryable: bool = True
    retried_by_activity: bool = True

    @property
    def type(self) -> str:
        """Stable type string, equal to the class name (also the Temporal failure type)."""
        return type(self).__name__


class PermanentError(ShardkeeperError):
    """Retrying cannot help: bad input, missing data, wrong credentials, corruption."""

    retryable = False
    retried_by_activity = False


class TemporaryError(ShardkeeperError):
    """May succeed later: the network, a busy server, a replica catching up."""

    retryable = True

    def __init__(self, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class SpecInvalid(PermanentError):
    """A user document or option was rejected; the message names file, document and field."""


class AccessDenied(PermanentError):
    """Credentials were refused (S3 403, SignatureDoesNotMatch, MySQL 1045)."""


class BucketMissing(PermanentError):
    """The destination bucket does not exist."""


class BackupNotFound(PermanentError):
    """No backup matches the request."""


class BackupIncomplete(PermanentError):
    """Backup objects exist but metadata.json, the commit record, does not."""


class BackupExists(PermanentError):
    """metadata.json already exists for this backup id: a committed backup is never rewritten."""


class ChecksumMismatch(PermanentError):
    """The stored bytes do not hash to what the agent streamed."""


class EngineUnsupported(PermanentError):
    """The backup engine binary is missing or cannot back up this server."""


class JobTimedOut(PermanentError):
    """The backup job exceeded its timeout (measured from its real start) and was stopped."""


class JobRejected(PermanentError):
    """The executor refused the job as invalid (Kubernetes 400/422, missing namespace)."""


class RestoreValidationFailed(PermanentError):
    """The restored data does not check out (a replica differs, a table is unreadable)."""


class ShardNotReady(TemporaryError):
    """The shard cannot be backed up now (no primary, replication broken or lagging)."""


class NoHealthySource(TemporaryError):
    """No instance of the shard is healthy enough to serve a backup."""


class EndpointUnavailable(TemporaryError):
    """A server could not be reached or answered with a server-side error."""


class EngineFailed(TemporaryError):
    """The backup engine failed; the message carries a bounded tail of its log."""


class JobUnreachable(TemporaryError):
    """The executor cannot start, reach or stop the job right now; the job's fate is open."""


class InstanceRunning(TemporaryError):
    """An instance still serves where the saga needs it stopped (it may still be stopping)."""


class JobFailed(ShardkeeperError):
    """This job ended failed, vanished, or ended without its report: it is over.

    Waiting on the same job again cannot help, so the activity fails for good; a new job may
    succeed, so the agent exits 1 (:attr:`retryable`) and ShardBackup starts a new job.
    """

    retryable = True
    retried_by_activity = False


def _classes() -> list[type[ShardkeeperError]]:
    """Every class of this module's taxonomy, walked from the root.

    Only classes defined here count, so the answer does not depend on which other modules
    (with their own PermanentError subclasses) happen to be imported.
    """
    found: list[type[ShardkeeperError]] = []
    pending: list[type[ShardkeeperError]] = [ShardkeeperError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__ == __name__:
            found.append(cls)
    return found


def non_retryable_types() -> frozenset[str]:
    """Type names an activity must never retry (PermanentError and below, and JobFailed)."""
    return frozenset(c.__name__ for c in _classes() if not c.retried_by_activity)


def reported_error(type_name: str | None, message: str) -> PermanentError:
    """The permanent error another process reported by type name (an agent's error file).

    A name this module does not know as permanent becomes a plain :class:`PermanentError`:
    the reporter said no retry helps, whatever it called the failure.
    """
    cls = next((c for c in _classes() if c.__name__ == type_name), None)
    if cls is None or not issubclass(cls, PermanentError):
        return PermanentError(message)
    return cls(message)
