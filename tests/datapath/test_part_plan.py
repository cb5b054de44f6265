"""Part sizes grow so an unknown-size stream fits S3's limits; memory stays bounded."""

from __future__ import annotations

import pytest

from shardkeeper.datapath.stores.multipart import (
    MAX_PART_BYTES,
    MAX_PARTS,
    MIN_PART_BYTES,
    TARGET_OBJECT_BYTES,
    PartPlan,
)
from shardkeeper.errors import PermanentError

MiB = 1 << 20


@pytest.mark.parametrize("initial", [5 * MiB, 8 * MiB, 16 * MiB, 64 * MiB, 512 * MiB])
def test_plan_reaches_five_tib_within_ten_thousand_parts(initial: int) -> None:
    plan = PartPlan(initial)
    sizes = [plan.size_of(n) for n in range(1, MAX_PARTS + 1)]

    assert plan.max_object_bytes == sum(sizes) >= TARGET_OBJECT_BYTES
    assert sizes[0] == initial
    assert all(MIN_PART_BYTES <= s <= MAX_PART_BYTES for s in sizes)
    assert sizes == sorted(sizes)  # never shrinks


def test_default_plan_keeps_small_backups_in_small_parts() -> None:
    plan = PartPlan()
    assert plan.size_of(1) == plan.size_of(1280) == 8 * MiB  # 10 GiB in the first step
    assert plan.size_of(1281) == 16 * MiB
    assert plan.size_of(MAX_PARTS) <= 1200 * MiB  # ~1 GiB parts only for multi-TiB streams


@pytest.mark.parametrize("bad", [MIN_PART_BYTES - 1, MAX_PART_BYTES + 1])
def test_part_size_outside_s3_limits_is_refused(bad: int) -> None:
    with pytest.raises(PermanentError):
        PartPlan(bad)
