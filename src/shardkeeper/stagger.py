"""Deterministic stagger: where in its period each shard's backup starts.

Each shard prefers the slot ``sha256("cluster/keyspace/shard/strategy") mod slots`` (never
Python's ``hash()``, which is salted per process, so two workers or a replay would disagree).
Unlike vitess-operator's plain ``hash mod period``, collisions are resolved, so two shards
share a slot only when there are more shards than slots.

Collisions are resolved by *ordered* linear probing (Amble and Knuth's ordered hash tables):

1. The set of occupied slots is what linear probing produces, which does not depend on the
   order keys are inserted in.
2. Occupied slots form runs separated by free slots. Inside a run, shards sit in the order
   of their preferred slot (ties by hash), each at or after its preferred slot.

So the result is a function of the *set* of shards alone, and adding a shard to a window that
keeps at least one free slot moves an existing shard only if it sits after the new shard in
the new shard's run, and then by exactly one slot, later in the period: every other shard keeps
its slot. Removing a shard is the mirror image (shards after it in its run move one slot
earlier). ``tests/test_stagger.py`` checks both with hypothesis.

When the window has no free slot left (as many shards as slots or more), slots are handed out
in hash order by plain linear probing while they last, and the remaining shards share their
preferred slot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Periods of an hour or more are planned in whole minutes, the unit operators read in cron
# lines; shorter periods get 60 slots so 1m and 2m schedules still spread by seconds.
MINUTE_SLOT_THRESHOLD_SECONDS = 3600
SLOTS_FOR_SHORT_PERIODS = 60


@dataclass(frozen=True, order=True)
class StaggerKey:
    """What a stagger offset is computed from."""

    cluster: str
    keyspace: str
    shard: str
    strategy: str

    def digest(self) -> int:
        """Stable 256-bit hash of the key."""
        text = f"{self.cluster}/{self.keyspace}/{self.shard}/{self.strategy}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")


def slot_seconds(window_seconds: int) -> int:
    """Width of one slot for a stagger window."""
    if window_seconds >= MINUTE_SLOT_THRESHOLD_SECONDS:
        return 60
    return max(1, window_seconds // SLOTS_FOR_SHORT_PERIODS)


def slot_count(window_seconds: int) -> int:
    """How many distinct start times a window offers."""
    if window_seconds <= 0:
        return 1
    return max(1, window_seconds // slot_seconds(window_seconds))


def _occupied(preferred: Iterable[int], n_slots: int) -> set[int]:
    """Slots linear probing fills (independent of insertion order); needs fewer keys than slots."""
    taken: set[int] = set()
    for slot in preferred:
        while slot in taken:
            slot = (slot + 1) % n_slots
        taken.add(slot)
    return taken


def _ordered(pref: Mapping[StaggerKey, int], n_slots: int) -> dict[StaggerKey, int]:
    """Ordered linear probing; needs at least one free slot (len(pref) < n_slots)."""
    taken = _occupied(pref.values(), n_slots)
    # Any free slot separates runs; reading the circle from just after it makes every run
    # contiguous, so placing keys in (preferred, hash) order fills each run in that order.
    cut = min(s for s in range(n_slots) if s not in taken)

    def rel(slot: int) -> int:
        return (slot - cut - 1) % n_slots

    result: dict[StaggerKey, int] = {}
    position = 0
    for key in sorted(pref, key=lambda k: (rel(pref[k]), k.digest(), k)):
        position = max(position, rel(pref[key]))
        result[key] = (position + cut + 1) % n_slots
        position += 1
    return result


def _saturated(pref: Mapping[StaggerKey, int], n_slots: int) -> dict[StaggerKey, int]:
    """More shards than slots: every slot is used once, then the rest double up."""
    taken: set[int] = set()
    result: dict[StaggerKey, int] = {}
    for key in sorted(pref, key=lambda k: (k.digest(), k)):
        slot = pref[key]
        if len(taken) < n_slots:
            while slot in taken:
                slot = (slot + 1) % n_slots
            taken.add(slot)
        result[key] = slot
    return result


def slots(keys: Iterable[StaggerKey], n_slots: int) -> dict[StaggerKey, int]:
    """Slot index (0 <= slot < n_slots) of every key; see the module docstring.

    Args:
        keys: the keys (duplicates are ignored).
        n_slots: how many slots the window has.
    """
    pref = {k: k.digest() % n_slots for k in set(keys)}
    if len(pref) < n_slots:
        return _ordered(pref, n_slots)
    return _saturated(pref, n_slots)


def offsets(keys: Iterable[StaggerKey], window_seconds: int) -> Mapping[StaggerKey, int]:
    """Offset in seconds (0 <= offset < window) for every key.

    Args:
        keys: the shards of one cluster planned together (duplicates are ignored).
        window_seconds: the stagger window, usually the schedule's period; 0 or less puts
            every shard at offset 0.

    The offsets are computed inside the BackupRun workflow: changing this algorithm changes
    recorded histories, so it needs ``workflow.patched`` once runs exist in the wild.
    """
    unique = set(keys)
    if window_seconds <= 0:
        return {k: 0 for k in unique}
    width = slot_seconds(window_seconds)
    chosen = slots(unique, slot_count(window_seconds))
    return {k: s * width for k, s in chosen.items()}
