"""Properties of the pure retention planner (``plan_prune``) over arbitrary shard states.

A shard state is what ``_scan`` hands the planner: committed backups of several
(schedule, strategy) pairs, manual ones and unreadable manifests (``schedule``/``strategy``
None, ``manual`` True), uncommitted prefixes and open multipart uploads, all under realistic
directories (``naming.backup_dir`` of ids from ``naming.backup_id_for``). Times spread over
years, with clock skew: ``finished_at`` may lie after ``now``, and ids (nominal slot times)
need not sort as ``finished_at`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from shardkeeper import naming
from shardkeeper.datapath.stores.retention import (
    IN_PROGRESS_GRACE_SECONDS,
    Committed,
    Decision,
    Leftover,
    Plan,
    Policy,
    plan_prune,
)

Pair = tuple[str | None, str | None]

DAY = 86400
YEAR = 365 * DAY
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
# Pairs whose tags differ only by their hash (same slug) are the interesting neighbours.
PAIRS: list[Pair] = [
    ("nightly", "all-shards"),
    ("hourly", "all-shards"),
    ("nightly", "customer-80-"),
    ("nightly", "BackupShard"),
    ("nightly", "backupshard"),
    ("weekly", "commerce_x"),
    ("weekly", "commerce-x"),
]
ALL_PAIRS: list[Pair] = [*PAIRS, (None, None)]  # (None, None): outside a schedule, old layout
BASE = naming.shard_prefix("backups", "demo", "customer", "-80")

SETTINGS = settings(max_examples=200, deadline=None)


@dataclass
class Shard:
    """One shard's state as the planner sees it."""

    committed: list[Committed] = field(default_factory=list)
    garbage: list[Leftover] = field(default_factory=list)
    uploads: list[Leftover] = field(default_factory=list)

    def plan(self, policy: Policy, now: datetime, *, iterators: bool = False) -> Plan:
        if iterators:  # the signature takes any iterable: a one-shot iterator must do too
            return plan_prune(iter(self.committed), iter(self.garbage), iter(self.uploads),
                              policy, now)
        return plan_prune(list(self.committed), list(self.garbage), list(self.uploads),
                          policy, now)

    def apply(self, plan: Plan) -> Shard:
        """The shard after the plan is carried out (the prune's deletions and aborts)."""
        deleted = {d.directory for d in plan.delete}
        swept = {d.directory for d in plan.garbage}
        aborted = {d.key for d in plan.abort}
        return Shard([c for c in self.committed if c.directory not in deleted],
                     [g for g in self.garbage if g.directory not in swept],
                     [u for u in self.uploads if u.key not in aborted])


# --- Generators ------------------------------------------------------------------------------


def _at(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


policies = st.builds(
    Policy,
    schedule=st.just(None),  # replaced below: schedule and strategy come as a pair
    strategy=st.just(None),
    keep_last=st.none() | st.integers(0, 3) | st.integers(0, 20),
    retention_days=st.integers(0, 400),
    garbage_grace_seconds=st.sampled_from([0, 60, 3600, DAY]) | st.integers(0, 7 * DAY),
    job_timeout_seconds=st.none() | st.sampled_from([3600, 2 * DAY]) | st.integers(1, 7 * DAY),
).flatmap(lambda p: st.sampled_from([*ALL_PAIRS, (None, None), (None, None)]).map(
    lambda pair: replace(p, schedule=pair[0], strategy=pair[1])))  # untagged: 3 in 10

nows = st.builds(
    lambda seconds, offset: _at(seconds).astimezone(timezone(timedelta(hours=offset))),
    st.integers(YEAR, 3 * YEAR), st.integers(-12, 14),
)


def _pairs_for(policy: Policy) -> st.SearchStrategy[Pair]:
    """Mostly the policy's own pair, often another one."""
    return st.sampled_from([(policy.schedule, policy.strategy)] * 3 + ALL_PAIRS)


def _finished_ages(policy: Policy) -> st.SearchStrategy[int]:
    """Ages of committed backups: over years, up to a year ahead (clock skew), and around
    the retention cutoff."""
    cutoff = policy.retention_days * DAY
    around = st.one_of(st.integers(-2, 2), st.integers(-10 * DAY, 10 * DAY),
                       st.integers(0, 2 * YEAR)).map(lambda delta: cutoff + delta)
    return st.one_of(st.integers(-YEAR, 0), st.integers(0, 3 * YEAR), around)


def _ages(policy: Policy) -> st.SearchStrategy[int]:
    """Ages of leftovers in seconds (negative: in the future), some right around the graces."""
    edges = [policy.garbage_grace_seconds, int(policy.in_progress_grace.total_seconds()),
             IN_PROGRESS_GRACE_SECONDS]
    near = st.tuples(st.sampled_from(edges), st.integers(-2, 2) | st.integers(-DAY, DAY))
    return st.one_of(st.integers(-DAY, 10 * DAY), st.integers(-YEAR, 3 * YEAR),
                     near.map(sum))


# The nominal time (the id) before or even after finished_at: ids and finish times disagree.
_durations = st.integers(-3 * DAY, 30 * DAY)
_leftover_ages = st.integers(-2 * DAY, 3 * YEAR)
_nearby = st.sampled_from([-DAY, -1, 1, DAY]) | st.integers(-2 * DAY, 2 * DAY)
_suffixes = st.sampled_from([None, None, "first", "manual"])
_kinds = st.sampled_from(["scheduled"] * 3 + ["manual", "unreadable"])
_workflows = st.text("ab", max_size=8)


def _backup_id(draw: st.DrawFn, nominal: datetime) -> str:
    """A scheduled, first-backup or manual id of a nominal time."""
    suffix = draw(_suffixes)
    if suffix == "first":
        return naming.backup_id_for(nominal, naming.first_backup_suffix(draw(_workflows)))
    if suffix == "manual":
        return naming.backup_id_for(nominal, naming.manual_suffix(draw(_workflows)))
    return naming.backup_id_for(nominal)


def _committed(draw: st.DrawFn, pair: Pair, age: int, now: datetime) -> Committed:
    finished = now - timedelta(seconds=age)
    backup_id = _backup_id(draw, finished - timedelta(seconds=draw(_durations)))
    schedule, strategy = pair
    legacy = draw(st.integers(0, 3)) == 0  # recorded runs keep the bare id as directory
    directory = backup_id if legacy else naming.backup_dir(backup_id, schedule, strategy)
    kind = draw(_kinds)
    if kind == "unreadable":  # as _committed in retention.py: the directory, kept as manual
        return Committed(directory, backup_id, None, None, True, finished)
    manual = kind == "manual" or (legacy and naming.is_manual_backup_id(backup_id))
    return Committed(directory, backup_id, schedule, strategy, manual, finished)


def _leftover_dir(
    draw: st.DrawFn, pairs: st.SearchStrategy[Pair], now: datetime, near: list[str],
) -> str:
    if near and draw(st.booleans()):  # a failed attempt just before or after a committed one
        slot = datetime.strptime(draw(st.sampled_from(near))[:16], naming.BACKUP_ID_FORMAT)
        nominal = slot.replace(tzinfo=UTC) + timedelta(seconds=draw(_nearby))
    else:
        nominal = now - timedelta(seconds=draw(_leftover_ages))
    backup_id = _backup_id(draw, nominal)
    if draw(st.integers(0, 4)) == 0:
        return backup_id  # untagged: the layout before tags
    return naming.backup_dir(backup_id, *draw(pairs))


@st.composite
def shards(draw: st.DrawFn, policy: Policy, now: datetime) -> Shard:
    pairs, ages, finished_ages = _pairs_for(policy), _ages(policy), _finished_ages(policy)
    # A series of the policy's own backups (gaps of hours to months, ties included) across
    # the retention cutoff, then backups of any pair at any time.
    series = [(policy.schedule, policy.strategy)] * draw(st.integers(0, 14))
    age = draw(finished_ages)
    ages_of = []
    for _ in series:
        ages_of.append(age)
        age += draw(st.sampled_from([0, 3600, DAY]) | st.integers(0, 60 * DAY))
    scattered = [draw(pairs) for _ in range(draw(st.integers(0, 12)))]
    ages_of += [draw(finished_ages) for _ in scattered]
    committed: dict[str, Committed] = {}
    for pair, age in zip(series + scattered, ages_of, strict=True):
        entry = _committed(draw, pair, age, now)
        slot = (entry.schedule, entry.strategy, entry.manual, entry.backup_id)
        if entry.directory not in committed and all(
                (c.schedule, c.strategy, c.manual, c.backup_id) != slot
                for c in committed.values()):
            committed[entry.directory] = entry
    near = sorted(c.backup_id for c in committed.values())
    dirs = [_leftover_dir(draw, pairs, now, near) for _ in range(draw(st.integers(0, 10)))]
    dirs = [d for d in dict.fromkeys(dirs) if d not in committed]
    garbage = [Leftover(d, now - timedelta(seconds=draw(ages)))
               for d in dirs if draw(st.booleans())]
    uploads: list[Leftover] = []
    for directory in dirs:
        for n in range(draw(st.integers(0, 2))):
            key = f"{BASE}{directory}/backup.xbstream" + (f".{n}" if n else "")
            uploads.append(Leftover(directory, now - timedelta(seconds=draw(ages)), key))
    return Shard(list(committed.values()), garbage, uploads)


situations = st.tuples(policies, nows).flatmap(
    lambda pn: st.tuples(st.just(pn[0]), st.just(pn[1]), shards(pn[0], pn[1])))


# --- Independent restatements of the rules ---------------------------------------------------


def _own(committed: Iterable[Committed], policy: Policy) -> list[Committed]:
    """The policy's own committed backups, newest first, as the rules order them."""
    pair = (policy.schedule, policy.strategy)
    return sorted((c for c in committed if not c.manual and (c.schedule, c.strategy) == pair),
                  key=lambda c: (c.finished_at, c.backup_id), reverse=True)


def _others(committed: Iterable[Committed], policy: Policy) -> list[Committed]:
    own = {c.directory for c in _own(committed, policy)}
    return [c for c in committed if c.directory not in own]


def _tag(directory: str) -> str | None:
    return naming.split_backup_dir(directory)[1]


def _dirs(decisions: Iterable[Decision]) -> list[str]:
    return [d.directory for d in decisions]


def _max_grace(policy: Policy) -> timedelta:
    return max(policy.in_progress_grace, timedelta(seconds=policy.garbage_grace_seconds),
               timedelta(seconds=IN_PROGRESS_GRACE_SECONDS))


# --- 1. The newest own backup stays ----------------------------------------------------------


@SETTINGS
@given(situations)
def test_newest_own_backup_is_never_deleted(situation: tuple[Policy, datetime, Shard]) -> None:
    policy, now, shard = situation
    plan = shard.plan(policy, now)

    own = _own(shard.committed, policy)
    if own:
        assert own[0].directory not in _dirs(plan.delete)
        kept = set(_dirs(plan.keep))
        assert any(c.directory in kept for c in own)


# --- 2. Never another pair's, a manual or an unreadable backup --------------------------------


@SETTINGS
@given(situations)
def test_nothing_of_another_pair_manual_or_unreadable_is_touched(
    situation: tuple[Policy, datetime, Shard],
) -> None:
    policy, now, shard = situation
    plan = shard.plan(policy, now)

    others = {c.directory for c in _others(shard.committed, policy)}
    assert not others & set(_dirs(plan.delete + plan.garbage + plan.abort))
    pair = (policy.schedule, policy.strategy)
    for decision in plan.delete:
        [entry] = [c for c in shard.committed if c.directory == decision.directory]
        assert not entry.manual and (entry.schedule, entry.strategy) == pair
    # Leftovers: the policy's own tag, or no tag at all (the old layout); never another tag.
    for decision in plan.garbage + plan.abort:
        assert _tag(decision.directory) in (policy.tag, None)
    if policy.tag is None:  # the untagged policy never judges a tagged leftover
        assert all(_tag(d.directory) is None for d in plan.garbage + plan.abort)


# --- 3. A partition, with reasons ------------------------------------------------------------


@SETTINGS
@given(situations, st.booleans())
def test_committed_backups_are_partitioned_into_delete_and_keep_with_reasons(
    situation: tuple[Policy, datetime, Shard], iterators: bool,
) -> None:
    policy, now, shard = situation
    plan = shard.plan(policy, now, iterators=iterators)

    assert sorted(_dirs(plan.delete + plan.keep)) == sorted(c.directory for c in shard.committed)
    by_dir = {c.directory: c for c in shard.committed}
    for decision in plan.delete + plan.keep:
        assert decision.backup_id == by_dir[decision.directory].backup_id
    assert len(set(_dirs(plan.garbage))) == len(plan.garbage)
    assert set(_dirs(plan.garbage)) <= {g.directory for g in shard.garbage}
    assert len({d.key for d in plan.abort}) == len(plan.abort)
    assert {d.key for d in plan.abort} <= {u.key for u in shard.uploads}
    for decision in plan.delete + plan.garbage + plan.abort + plan.keep:
        assert decision.reason.strip()
        assert decision.backup_id == naming.split_backup_dir(decision.directory)[0]


# --- 4. Each deletion against the rules, independently ----------------------------------------


@SETTINGS
@given(situations)
def test_a_backup_goes_only_when_old_beyond_keep_last_and_not_the_newest(
    situation: tuple[Policy, datetime, Shard],
) -> None:
    policy, now, shard = situation
    plan = shard.plan(policy, now)

    own = _own(shard.committed, policy)
    rank = {c.directory: i for i, c in enumerate(own)}
    cutoff = now - timedelta(days=policy.retention_days)
    deleted = set(_dirs(plan.delete))
    for entry in own:
        old = entry.finished_at < cutoff
        beyond_keep_last = policy.keep_last is None or rank[entry.directory] >= policy.keep_last
        not_newest = rank[entry.directory] > 0
        if entry.directory in deleted:
            assert old, f"{entry} deleted though younger than {policy.retention_days} days"
            assert beyond_keep_last, f"{entry} deleted though among the {policy.keep_last}"
            assert not_newest
        else:  # and conversely, a backup no rule keeps goes
            assert not (old and beyond_keep_last and not_newest), entry


# --- 5. Failing backups never empty a shard ---------------------------------------------------


@dataclass(frozen=True)
class Day:
    """One day of a schedule: its backup commits or fails, then the prune runs."""

    commits: bool
    prefix: bool  # a failure leaves an uncommitted prefix
    upload: bool  # a failure leaves an open multipart upload
    wrote_after: int  # seconds after the slot the failed attempt last wrote (or finished)
    skew: int  # finished_at - slot of a commit: clock skew, or a long backup
    prune_after: int  # seconds after the slot the prune runs
    neighbour: bool  # another pair (or a manual run) commits too


days = st.builds(
    Day, commits=st.booleans(), prefix=st.booleans(), upload=st.booleans(),
    wrote_after=st.integers(0, 6 * 3600), skew=st.integers(-2 * DAY, 3 * DAY),
    prune_after=st.integers(0, 20 * 3600), neighbour=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(policy=policies, retention_days=st.integers(0, 20) | st.integers(0, 400),
       start=st.integers(0, 2 * YEAR), history=st.lists(days, min_size=20, max_size=90),
       other=st.sampled_from(ALL_PAIRS))
def test_a_shard_whose_backups_keep_failing_is_never_emptied(
    policy: Policy, retention_days: int, start: int, history: list[Day], other: Pair,
) -> None:
    policy = replace(policy, retention_days=retention_days)  # short enough to expire some
    pair = (policy.schedule, policy.strategy)
    shard = Shard()
    had_one = False
    now = _at(start)
    for i, day in enumerate(history):
        slot = _at(start) + timedelta(days=i)
        backup_id = naming.backup_id_for(slot)
        directory = naming.backup_dir(backup_id, *pair)
        if day.commits:
            shard.committed.append(Committed(directory, backup_id, *pair, False,
                                             slot + timedelta(seconds=day.skew)))
        else:
            wrote = slot + timedelta(seconds=day.wrote_after)
            if day.prefix:
                shard.garbage.append(Leftover(directory, wrote))
            if day.upload:
                shard.uploads.append(Leftover(directory, slot, f"{BASE}{directory}/b.xbstream"))
        if day.neighbour:
            manual = other == pair  # of the policy's own pair, only a manual run is not its own
            theirs = backup_id + "-m0123abcd" if manual else backup_id
            shard.committed.append(Committed(naming.backup_dir(theirs, *other), theirs, *other,
                                             manual, slot))
        # The prune runs after the attempt; the clock never goes back.
        now = max(now, slot + timedelta(seconds=day.wrote_after + day.prune_after))
        own = _own(shard.committed, policy)
        newest_id = own[0].backup_id if own else None
        neighbours = set(_others(shard.committed, policy))

        plan = shard.plan(policy, now)

        for decision in plan.garbage:
            [item] = [g for g in shard.garbage if g.directory == decision.directory]
            age = now - item.written
            assert age > timedelta(seconds=policy.garbage_grace_seconds)
            if newest_id is None or decision.backup_id > newest_id:  # may still be running
                assert age > policy.in_progress_grace
        for decision in plan.abort:
            [item] = [u for u in shard.uploads if u.key == decision.key]
            assert now - item.written > policy.in_progress_grace
        shard = shard.apply(plan)
        own = _own(shard.committed, policy)
        had_one = had_one or bool(own)
        assert own or not had_one, f"day {i}: the shard lost its last backup"
        assert neighbours <= set(shard.committed)
        # Eventually: no failure's leftover outlives the longest grace by a day of prunes.
        stale = now - _max_grace(policy)
        assert all(g.written >= stale for g in shard.garbage)
        assert all(u.written >= stale for u in shard.uploads)

    later = now + _max_grace(policy) + timedelta(seconds=1)
    final = shard.apply(shard.plan(policy, later))
    assert final.garbage == [] and final.uploads == []
    assert bool(_own(final.committed, policy)) == had_one


# --- 6. Idempotence ---------------------------------------------------------------------------


@SETTINGS
@given(situations)
def test_planning_again_after_applying_a_plan_does_nothing_more(
    situation: tuple[Policy, datetime, Shard],
) -> None:
    policy, now, shard = situation
    first = shard.plan(policy, now)
    after = shard.apply(first)

    again = after.plan(policy, now)

    assert again.delete == [] and again.garbage == [] and again.abort == []
    assert sorted(_dirs(again.keep)) == sorted(_dirs(first.keep))


# --- 7. Monotonicity --------------------------------------------------------------------------


@SETTINGS
@given(situations, st.none() | st.integers(0, 20), st.integers(0, 20), st.integers(0, 400))
def test_a_larger_keep_last_or_retention_never_deletes_more(
    situation: tuple[Policy, datetime, Shard], keep_last: int | None, more_last: int,
    more_days: int,
) -> None:
    policy, now, shard = situation
    larger_last = replace(policy, keep_last=(keep_last or 0) + more_last)
    narrow = replace(policy, keep_last=keep_last)
    larger_days = replace(narrow, retention_days=policy.retention_days + more_days)

    deleted = set(_dirs(shard.plan(narrow, now).delete))
    assert set(_dirs(shard.plan(larger_last, now).delete)) <= deleted
    assert set(_dirs(shard.plan(larger_days, now).delete)) <= deleted
    both = replace(larger_last, retention_days=larger_days.retention_days)
    assert set(_dirs(shard.plan(both, now).delete)) <= deleted


# --- 8. Young uploads stay open ---------------------------------------------------------------


@SETTINGS
@given(situations)
def test_an_upload_younger_than_the_in_progress_grace_is_never_aborted(
    situation: tuple[Policy, datetime, Shard],
) -> None:
    policy, now, shard = situation
    plan = shard.plan(policy, now)

    aborted = {d.key for d in plan.abort}
    for upload in shard.uploads:
        if upload.written >= now - policy.in_progress_grace:
            assert upload.key not in aborted, (upload, policy.in_progress_grace)
