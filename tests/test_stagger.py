"""Stagger properties (hypothesis): what ``stagger.offsets`` guarantees.

Proved here, for any set of shards and any window:
- determinism: the offsets depend on the set of shards only (not on order or duplicates);
- every offset lies in [0, window) and on a slot boundary;
- distinct slots while there are at least as many slots as shards;
- insertion stability while a slot stays free: adding one shard moves an existing shard only
  if it sits in the new shard's run of occupied slots, and then by exactly one slot later in
  the period; removal is the mirror image (at most one slot earlier).
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from shardkeeper.stagger import StaggerKey, offsets, slot_count, slot_seconds, slots

names = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=6)
keys = st.builds(StaggerKey, st.sampled_from(["demo", "prod"]), st.sampled_from(["ks", "cust"]),
                 names, st.sampled_from(["all", "nightly"]))
key_sets = st.sets(keys, max_size=40)


@given(key_sets, st.integers(min_value=0, max_value=40 * 86400), st.randoms())
def test_offsets_depend_on_the_set_only(ks: set[StaggerKey], window: int,
                                        rnd: random.Random) -> None:
    shuffled = list(ks) * 2  # order and duplicates must not matter
    rnd.shuffle(shuffled)
    assert offsets(shuffled, window) == offsets(sorted(ks), window)


@given(key_sets, st.integers(min_value=1, max_value=40 * 86400))
def test_offsets_are_slot_aligned_inside_the_window(ks: set[StaggerKey], window: int) -> None:
    width = slot_seconds(window)
    for offset in offsets(ks, window).values():
        assert 0 <= offset < window
        assert offset % width == 0


@given(key_sets, st.integers(min_value=1, max_value=120))
def test_slots_are_distinct_while_slots_remain(ks: set[StaggerKey], n_slots: int) -> None:
    result = slots(ks, n_slots)
    used = list(result.values())
    assert all(0 <= s < n_slots for s in used)
    if len(ks) <= n_slots:
        assert len(set(used)) == len(used)
    else:
        assert set(used) == set(range(n_slots)), "every slot used before any is shared"


def _moved_forward_by_one(before: dict[StaggerKey, int], after: dict[StaggerKey, int],
                          n_slots: int) -> None:
    for key, slot in before.items():
        assert after[key] in (slot, (slot + 1) % n_slots), (key, slot, after[key])


@settings(max_examples=300)
@given(key_sets, keys, st.integers(min_value=1, max_value=64))
def test_adding_a_shard_moves_others_at_most_one_slot_later(
    ks: set[StaggerKey], new: StaggerKey, n_slots: int
) -> None:
    ks = ks - {new}
    if len(ks) + 1 >= n_slots:
        return  # the guarantee needs a free slot left after the insertion
    before, after = slots(ks, n_slots), slots(ks | {new}, n_slots)
    _moved_forward_by_one(before, after, n_slots)
    moved = [k for k in ks if before[k] != after[k]]
    # the moved shards are exactly the ones on the run that starts at the new shard's slot
    run: list[int] = []
    slot = (after[new] + 1) % n_slots
    occupied = set(after.values())
    while slot in occupied and slot != after[new]:
        run.append(slot)
        slot = (slot + 1) % n_slots
    assert {after[k] for k in moved} <= set(run)


@settings(max_examples=300)
@given(key_sets.filter(bool), st.integers(min_value=1, max_value=64), st.data())
def test_removing_a_shard_moves_others_at_most_one_slot_earlier(
    ks: set[StaggerKey], n_slots: int, data: st.DataObject
) -> None:
    if len(ks) >= n_slots:
        return
    gone = data.draw(st.sampled_from(sorted(ks)))
    before, after = slots(ks, n_slots), slots(ks - {gone}, n_slots)
    _moved_forward_by_one(after, {k: before[k] for k in after}, n_slots)


def test_sixty_shards_at_one_hour_get_sixty_distinct_minutes() -> None:
    ks = [StaggerKey("demo", "ks", f"{i:02x}-{i + 1:02x}", "all") for i in range(60)]
    result = offsets(ks, 3600)
    assert sorted(result.values()) == [m * 60 for m in range(60)]


def test_one_and_two_minute_periods_still_spread_by_seconds() -> None:
    ks = [StaggerKey("demo", "customer", s, "all") for s in ("-40", "40-80", "80-c0", "c0-")]
    for window in (60, 120):
        result = offsets(ks, window)
        assert len(set(result.values())) == 4
        assert slot_seconds(window) == window // 60 and slot_count(window) == 60


def test_slot_widths() -> None:
    assert slot_seconds(3600) == 60 and slot_count(3600) == 60
    assert slot_seconds(6 * 3600) == 60 and slot_count(6 * 3600) == 360
    assert slot_seconds(45 * 60) == 45 and slot_count(45 * 60) == 60
    assert slot_seconds(30) == 1 and slot_count(30) == 30
    assert offsets([StaggerKey("a", "b", "-", "d")], 0) == {StaggerKey("a", "b", "-", "d"): 0}


def test_known_offsets_do_not_change_between_releases() -> None:
    # Pinned: a change here moves every shard of every deployed schedule.
    ks = [StaggerKey("demo", "commerce", "-", "all"), StaggerKey("demo", "customer", "-80", "all"),
          StaggerKey("demo", "customer", "80-", "all")]
    assert {k.shard: v for k, v in offsets(ks, 6 * 3600).items()} == {
        "-": 3480, "80-": 15360, "-80": 19860,
    }
