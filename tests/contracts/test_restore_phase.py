"""Restore phases are wire values: search attribute, ``phase`` query, recorded histories."""

from __future__ import annotations

from shardkeeper.contracts import restore
from shardkeeper.contracts.restore_phase import PHASE_ORDER, RestorePhase


def test_phase_values_never_change() -> None:
    assert [p.value for p in RestorePhase] == [
        "Pending", "Validating", "AwaitingApproval", "Fencing", "Restoring", "Recovering",
        "ValidatingData", "Prepared", "Unfencing", "Compensating", "Completed", "Failed",
        "Compensated",
    ]


def test_phases_advance_from_pending_to_completed_without_the_end_states() -> None:
    assert PHASE_ORDER[0] is RestorePhase.PENDING
    assert PHASE_ORDER[-1] is RestorePhase.COMPLETED
    assert not {RestorePhase.FAILED, RestorePhase.COMPENSATED,
                RestorePhase.COMPENSATING} & set(PHASE_ORDER)


def test_the_restore_contracts_use_the_same_phase() -> None:
    assert restore.RestorePhase is RestorePhase
    assert restore.ShardProgress.model_fields["phase"].annotation is RestorePhase
