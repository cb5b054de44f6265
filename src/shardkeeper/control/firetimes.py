"""When a Temporal Schedule fires, and the cron line a staggered shard's start is equivalent to.

Offline mirrors of the Temporal server's schedule semantics, for ``plan`` and ``describe``:

- Interval schedules (``frequency``) are aligned to the Unix epoch: they fire at every
  multiple of the period since 1970-01-01T00:00:00Z (``ScheduleIntervalSpec`` with no phase).
- Cron schedules fire in their time zone. Around DST changes Temporal's calendar matcher
  (``service/worker/scheduler/calendar.go``) *skips* a local time that does not exist (spring
  forward) and fires *twice* in a repeated hour (fall back). croniter moves a nonexistent time
  to the first instant after the gap instead, so its results are filtered to the local times
  the cron fields actually match.

A shard starts at fire time + its stagger offset (the BackupRun sleeps for the offset), so its
run times are the fire times shifted by the offset, as instants.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

_EPOCH_WEEKDAY = 4  # 1970-01-01 was a Thursday (cron: 0 = Sunday)
_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_MAX_CRON_STEPS = 10_000  # bound on croniter steps when many results are filtered out


def interval_fires(period_seconds: int, after: datetime) -> Iterator[datetime]:
    """Fire times (UTC) of an epoch-aligned interval, strictly after ``after``."""
    k = math.floor(after.timestamp() / period_seconds) + 1
    while True:
        yield datetime.fromtimestamp(k * period_seconds, UTC)
        k += 1


def _expanded(cron: str) -> list[list[int] | None]:
    """Each field's values; None for ``*``."""
    fields: list[list[int] | None] = []
    for i, values in enumerate(croniter(cron).expanded):
        if values == ["*"]:
            fields.append(None)
        else:
            ints = sorted({int(v) % 7 if i == 4 else int(v) for v in values})
            fields.append(ints)
    return fields


def cron_fires(cron: str, time_zone: str, after: datetime) -> Iterator[datetime]:
    """Fire times of a 5-field cron line in a time zone, strictly after ``after``.

    Temporal's DST rules apply (see the module docstring).
    """
    tz = ZoneInfo(time_zone)
    minutes, hours = _expanded(cron)[:2]
    it = croniter(cron, after.astimezone(tz))
    last: float | None = None
    for _ in range(_MAX_CRON_STEPS):
        fire: datetime = it.get_next(datetime)
        local = fire.astimezone(tz)
        if minutes is not None and local.minute not in minutes:
            continue  # croniter moved a time that does not exist; Temporal skips it
        if hours is not None and local.hour not in hours:
            continue
        # compare instants: same-zone datetimes compare by wall clock, which a repeated hour
        # makes equal
        if last is not None and fire.timestamp() <= last:
            continue
        last = fire.timestamp()
        yield fire


def _render(values: list[int], lo: int, hi: int) -> str:
    """A sorted set of field values in cron syntax (``*``, ``*/6``, ``7-59/15``, lists)."""
    if values == list(range(lo, hi + 1)):
        return "*"
    if len(values) >= 2:
        step = values[1] - values[0]
        progression = all(b - a == step for a, b in itertools.pairwise(values))
        if step > 1 and progression and values[-1] + step > hi and values[0] - step < lo:
            return f"*/{step}" if values[0] == lo else f"{values[0]}-{hi}/{step}"
    return ",".join(map(str, values))


def interval_cron(period_seconds: int, offset_seconds: int) -> str | None:
    """The UTC cron line firing at every epoch-aligned interval plus an offset, if one exists.

    Exists for whole-minute offsets and periods that divide an hour, whole hours dividing a
    day, or a week: ``6h`` + ``17m`` → ``17 */6 * * *``; ``24h`` + ``2h5m`` → ``5 2 * * *``;
    ``45m`` and ``90m`` have none (their fire times drift through the hours and days).
    """
    if offset_seconds % 60 or period_seconds % 60:
        return None
    period, offset = period_seconds // 60, offset_seconds // 60
    if 60 % period == 0:
        return f"{_render(list(range(offset % period, 60, period)), 0, 59)} * * * *"
    if period % 60 == 0 and 24 % (period // 60) == 0:
        every = period // 60
        hours = list(range((offset // 60) % every, 24, every))
        return f"{offset % 60} {_render(hours, 0, 23)} * * *"
    if period == 7 * 24 * 60:
        day, minute_of_day = divmod(offset, 24 * 60)
        hour, minute = divmod(minute_of_day, 60)
        return f"{minute} {hour} * * {(_EPOCH_WEEKDAY + day) % 7}"
    return None


def _shift(values: list[int] | None, lo: int, hi: int, by: int) -> tuple[list[int], set[int]]:
    """Values moved by ``by`` and wrapped into [lo, hi].

    Returns the moved values and the set of carries into the next field.
    """
    span = hi - lo + 1
    full = list(range(lo, hi + 1)) if values is None else values
    moved = [(v - lo + by) % span + lo for v in full]
    carries = {(v - lo + by) // span for v in full}
    return sorted(set(moved)), carries


def shifted_cron(cron: str, offset_seconds: int) -> str | None:
    """A cron line firing ``offset_seconds`` after each fire of ``cron``, if one line can.

    Wall-clock arithmetic: exact except on a DST change day, when the shard starts the offset
    after the real fire instant (``cron_fires`` + offset is the truth, and what ``plan``
    prints). None when the offset has seconds or the shift does not fit one line (a carry
    into the next hour or day that differs between fire times, or a day carry into a
    restricted day of month).
    """
    if offset_seconds % 60:
        return None
    minutes, hours, dom, month, dow = _expanded(cron)
    new_minutes, hour_carries = _shift(minutes, 0, 59, offset_seconds // 60)
    if len(hour_carries) != 1:
        return None
    carry = hour_carries.pop()
    new_hours, day_carries = _shift(hours, 0, 23, carry)
    days_free = dom is None and month is None and dow is None
    fields_out = [
        _render(new_minutes, 0, 59),
        _render(new_hours, 0, 23),
        "*" if dom is None else _render(dom, 1, 31),
        "*" if month is None else _render(month, 1, 12),
        "*" if dow is None else _render(dow, 0, 6),
    ]
    if days_free or day_carries == {0}:
        return " ".join(fields_out)
    if len(day_carries) != 1 or dom is not None or month is not None or dow is None:
        return None
    day = day_carries.pop()
    fields_out[4] = _render(sorted({(d + day) % 7 for d in dow}), 0, 6)
    return " ".join(fields_out)


def run_times(fires: Iterator[datetime], offset_seconds: int, count: int, time_zone: str,
              ) -> list[datetime]:
    """The first ``count`` fire times shifted by the offset, in the time zone."""
    tz = ZoneInfo(time_zone)
    out: list[datetime] = []
    for fire in fires:
        if len(out) >= count:
            break
        # in UTC: aware-datetime arithmetic in a zone is wall-clock arithmetic, wrong across DST
        out.append((fire.astimezone(UTC) + timedelta(seconds=offset_seconds)).astimezone(tz))
    return out
