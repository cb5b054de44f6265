"""The error taxonomy: every failure shardkeeper raises on purpose.

Domain code raises these; ``activities/failures.py`` turns them into Temporal
``ApplicationError`` in one place and ``cli/app.py`` turns them into exit codes.
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
    │   └── JobRejected           the executor refused the job (Kubernetes 400/422)
    └── TemporaryError            retried by the activity's retry policy
        ├── ShardNotReady         no primary, or replicas not replicating
        ├── NoHealthySource       no instance can serve the backup
        ├── EndpointUnavailable   connection refused, timeouts, 5xx
        ├── EngineFailed          the engine exited non-zero or never said "completed OK!"
        └── JobFailed             the executor's job failed or vanished
"""

from __future__ import annotations


class ShardkeeperError(Exception):
    """Base of every error shardkeeper raises on purpose."""

    retryable: bool = True

    @property
    def type(self) -> str:
        """Stable type string, equal to the class name (also the Temporal failure type)."""
        return type(self).__name__


class PermanentError(ShardkeeperError):
    """Retrying cannot help: bad input, missing data, wrong credentials, corruption."""

    retryable = False


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


class ShardNotReady(TemporaryError):
    """The shard cannot be backed up now (no primary, replication broken or lagging)."""


class NoHealthySource(TemporaryError):
    """No instance of the shard is healthy enough to serve a backup."""


class EndpointUnavailable(TemporaryError):
    """A server could not be reached or answered with a server-side error."""


class EngineFailed(TemporaryError):
    """The backup engine failed; the message carries a bounded tail of its log."""


class JobFailed(TemporaryError):
    """The executor's job failed, was killed or vanished."""
