"""The restore phase: where a restore, or one of its shards, is.

The values are the cross-language API: the ``ShardkeeperRestorePhase`` search attribute,
the ``phase`` query, :class:`~shardkeeper.contracts.restore.RestoreProgress` and every
recorded history carry them as strings, so a value is never renamed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class RestorePhase(StrEnum):
    """Where a restore (or one of its shards) is.

    ``Recovering`` is reserved for point-in-time recovery (replaying archived binlogs between
    Restoring and ValidatingData); no restore enters it yet.
    """

    PENDING = "Pending"
    VALIDATING = "Validating"
    AWAITING_APPROVAL = "AwaitingApproval"
    FENCING = "Fencing"
    RESTORING = "Restoring"
    RECOVERING = "Recovering"
    VALIDATING_DATA = "ValidatingData"
    PREPARED = "Prepared"
    """Shard only: restored and checked, waiting for every other shard (all or nothing)."""
    UNFENCING = "Unfencing"
    COMPENSATING = "Compensating"
    COMPLETED = "Completed"
    FAILED = "Failed"
    COMPENSATED = "Compensated"


# Order in which phases advance; the parent shows the least advanced shard's phase.
PHASE_ORDER: Final = (
    RestorePhase.PENDING,
    RestorePhase.FENCING,
    RestorePhase.RESTORING,
    RestorePhase.RECOVERING,
    RestorePhase.VALIDATING_DATA,
    RestorePhase.PREPARED,
    RestorePhase.UNFENCING,
    RestorePhase.COMPLETED,
)
