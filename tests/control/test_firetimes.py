"""Fire times (epoch-aligned intervals, cron in a time zone with Temporal's DST rules) and the
equivalent cron lines ``plan`` prints."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from shardkeeper.control.firetimes import (
    cron_fires,
    interval_cron,
    interval_fires,
    run_times,
    shifted_cron,
)


def _iso(fires: list[datetime]) -> list[str]:
    return [f.isoformat() for f in fires]


@pytest.mark.parametrize(
    ("period", "offset", "cron"),
    [
        (6 * 3600, 17 * 60, "17 */6 * * *"),
        (6 * 3600, 2 * 3600 + 17 * 60, "17 2-23/6 * * *"),
        (24 * 3600, 2 * 3600 + 5 * 60, "5 2 * * *"),
        (3600, 5 * 60, "5 * * * *"),
        (15 * 60, 7 * 60, "7-59/15 * * * *"),
        (15 * 60, 0, "*/15 * * * *"),
        (60, 0, "* * * * *"),
        (2 * 60, 60, "1-59/2 * * * *"),
        (7 * 86400, 86400 + 3600 + 60, "1 1 * * 5"),  # the epoch was a Thursday
        (45 * 60, 0, None),
        (90 * 60, 60, None),
        (48 * 3600, 0, None),
        (6 * 3600, 37, None),  # cron has no seconds
    ],
)
def test_interval_cron(period: int, offset: int, cron: str | None) -> None:
    assert interval_cron(period, offset) == cron


@pytest.mark.parametrize(
    ("cron", "offset", "shifted"),
    [
        ("0 2 * * *", 17 * 60, "17 2 * * *"),
        ("0 2 * * *", 0, "0 2 * * *"),
        ("30 23 * * *", 45 * 60, "15 0 * * *"),  # into the next day: every day stays every day
        ("0 23 * * 1", 2 * 3600, "0 1 * * 2"),  # Monday 23:00 + 2h is Tuesday 01:00
        ("*/15 * * * *", 7 * 60, "7-59/15 * * * *"),
        ("0 0 * * 0", 3 * 86400 + 60, "1 0 * * 3"),
        ("0 23 1 * *", 2 * 3600, None),  # the day after the 1st is not one cron day
        ("0,30 * * * *", 45 * 60, None),  # 0→45 stays in the hour, 30→15 carries
        ("0 2 * * *", 30, None),
    ],
)
def test_shifted_cron(cron: str, offset: int, shifted: str | None) -> None:
    assert shifted_cron(cron, offset) == shifted


def test_interval_fires_are_multiples_of_the_period_since_the_epoch() -> None:
    after = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    fires = list(itertools.islice(interval_fires(90 * 60, after), 3))
    assert all(int(f.timestamp()) % (90 * 60) == 0 for f in fires)
    assert _iso(fires) == ["2026-11-22T10:30:00+00:00", "2026-11-22T12:00:00+00:00",
                           "2026-11-22T13:30:00+00:00"]
    at_fire = list(itertools.islice(interval_fires(3600, datetime(2026, 1, 1, tzinfo=UTC)), 1))
    assert _iso(at_fire) == ["2026-01-01T01:00:00+00:00"], "strictly after"


def test_cron_skips_a_time_that_spring_forward_removes() -> None:
    # Europe/Berlin jumps from 02:00 to 03:00 on 2026-03-29: Temporal fires no 02:00 run that
    # day (croniter alone would say 03:00).
    fires = itertools.islice(cron_fires("0 2 * * *", "Europe/Berlin",
                                        datetime(2026, 3, 27, 12, tzinfo=UTC)), 3)
    assert _iso(list(fires)) == ["2026-03-28T02:00:00+01:00", "2026-03-30T02:00:00+02:00",
                                 "2026-03-31T02:00:00+02:00"]


def test_cron_fires_twice_in_the_hour_fall_back_repeats() -> None:
    fires = itertools.islice(cron_fires("30 2 * * *", "Europe/Berlin",
                                        datetime(2026, 10, 24, 12, tzinfo=UTC)), 3)
    assert _iso(list(fires)) == ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00",
                                 "2026-10-26T02:30:00+01:00"]


def test_run_times_add_the_offset_to_the_instant() -> None:
    # 01:00 CET + 90 min across the spring gap is 03:30 CEST: the BackupRun sleeps 90 minutes
    # after the real fire instant, whatever the wall clock does.
    fires = cron_fires("0 1 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC))
    runs = run_times(fires, 90 * 60, 2, "Europe/Berlin")
    assert _iso(runs) == ["2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"]
