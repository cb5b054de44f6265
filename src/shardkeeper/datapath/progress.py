"""Progress of a stream for machines (AgentProgress lines) and humans (a periodic log line).

This module owns the arithmetic of rate and ETA and the human rendering (``1.2 GiB of
~2.0 GiB, 110 MiB/s, ETA 8s``). ETA is given only when a total can be estimated (the
source's data size for a backup, the stored size for a restore) and is computed from the
average rate since the start, which is steadier than the last second's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from shardkeeper.contracts.agent import AgentProgress

log = structlog.get_logger(__name__)

HUMAN_EVERY_SECONDS = 10.0
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(n: float) -> str:
    """``1536`` → ``1.5 KiB``."""
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - loop returns


def human_seconds(seconds: float) -> str:
    """``3725`` → ``1h02m05s``."""
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    return f"{m}m{s:02d}s" if m else f"{s}s"


class ProgressReporter:
    """Turns counters into AgentProgress lines and, every few seconds, a human log line."""

    def __init__(
        self,
        emit: Callable[[AgentProgress], None],
        phase: str,
        *,
        total_estimate: int | None = None,
        what: str = "stream",
    ) -> None:
        """Report ``phase``; ``total_estimate`` is the expected final raw byte count."""
        self._emit = emit
        self.phase = phase
        self.total_estimate = total_estimate
        self._what = what
        self._start = time.monotonic()
        self._last_human = self._start

    def eta(self, done: int) -> float | None:
        """Seconds left at the average rate so far, when a total is known and not passed."""
        elapsed = time.monotonic() - self._start
        if not self.total_estimate or done <= 0 or elapsed <= 0 or done > self.total_estimate:
            return None
        return (self.total_estimate - done) / (done / elapsed)

    def __call__(
        self, stored: int, parts: int, rate: float, raw: int | None = None
    ) -> None:
        """Emit one line: ``stored`` bytes (what is hashed), ``raw`` bytes when different."""
        done = raw if raw is not None else stored
        eta = self.eta(done)
        self._emit(
            AgentProgress(
                phase=self.phase,
                bytes_streamed=stored,
                parts_uploaded=parts,
                rate_bytes_per_second=round(rate, 1),
                at=datetime.now(UTC),
                raw_bytes=raw,
                total_bytes_estimate=self.total_estimate,
                eta_seconds=round(eta, 1) if eta is not None else None,
            )
        )
        now = time.monotonic()
        if now - self._last_human >= HUMAN_EVERY_SECONDS:
            self._last_human = now
            total = f" of ~{human_bytes(self.total_estimate)}" if self.total_estimate else ""
            average = done / (now - self._start) if now > self._start else 0.0
            log.info(
                f"{self._what}.progress",
                progress=f"{human_bytes(done)}{total}, {human_bytes(average)}/s"
                + (f", ETA {human_seconds(eta)}" if eta is not None else ""),
                stored=human_bytes(stored),
            )
