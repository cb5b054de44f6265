"""Deterministic stagger: where in its period each shard's backup starts.

The offset comes from sha256("cluster/keyspace/shard/strategy"), never Python's ``hash()``
(salted per process, so two workers or a replay would disagree). Unlike vitess-operator's
plain ``hash mod period``, collisions are resolved: shards are walked in hash order and each
takes the first free slot at or after its preferred one, so two shards share a slot only when
there are more shards than slots. A shard added by resharding moves an existing shard only if
its own preferred slot lies on that shard's probe path.
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


def offsets(keys: Iterable[StaggerKey], window_seconds: int) -> Mapping[StaggerKey, int]:
    """Offset in seconds (0 <= offset < window) for every key.

    Args:
        keys: the shards of one cluster planned together (duplicates are ignored).
        window_seconds: the stagger window, usually the schedule's period; 0 or less puts
            every shard at offset 0.
    """
    unique = sorted(set(keys), key=lambda k: (k.digest(), k))
    if window_seconds <= 0:
        return {k: 0 for k in unique}
    width = slot_seconds(window_seconds)
    n_slots = max(1, window_seconds // width)
    taken: set[int] = set()
    result: dict[StaggerKey, int] = {}
    for key in unique:
        preferred = key.digest() % n_slots
        slot = preferred
        if len(taken) < n_slots:
            while slot in taken:
                slot = (slot + 1) % n_slots
        taken.add(slot)
        result[key] = slot * width
    return result
