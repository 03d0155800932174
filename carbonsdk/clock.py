"""Time: one injectable clock for durations (monotonic seconds) and timestamps (UTC).

Every timestamp carbonsdk produces is ``anchor_utc + (monotonic() - anchor_monotonic)``, so a
wall-clock step (NTP, DST) during a run can neither create gaps nor negative intervals. Tests
inject :class:`carbonsdk.testing.FakeClock` to run an 8-day run in milliseconds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """A source of time. ``monotonic()`` in seconds (arbitrary origin, never goes back);
    ``time()`` in seconds since the Unix epoch (UTC)."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...


class SystemClock:
    """The real clock: ``monotonic()`` is :func:`time.monotonic` (seconds) and ``time()`` is
    :func:`time.time` (seconds since the Unix epoch, UTC), the functions themselves (no Python
    call in between: the sampler reads the clock several times per tick)."""

    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)


class Timebase:
    """Maps monotonic seconds of one clock to UTC epoch seconds, anchored once."""

    __slots__ = ("anchor_epoch_s", "anchor_mono_s", "clock")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.anchor_mono_s = clock.monotonic()
        self.anchor_epoch_s = clock.time()

    def epoch_s(self, mono_s: float) -> float:
        """UTC epoch seconds of a monotonic reading of this clock."""
        return self.anchor_epoch_s + (mono_s - self.anchor_mono_s)

    def now_epoch_s(self) -> float:
        """UTC epoch seconds now, on this timebase."""
        return self.epoch_s(self.clock.monotonic())


def to_datetime(epoch_s: float) -> datetime:
    """A timezone-aware UTC datetime from UTC epoch seconds."""
    return datetime.fromtimestamp(epoch_s, tz=UTC)


def to_epoch_s(when: datetime) -> float:
    """UTC epoch seconds of a datetime; a naive datetime is rejected (ambiguous)."""
    if when.tzinfo is None or when.utcoffset() is None:
        from carbonsdk.exceptions import ConfigurationError

        raise ConfigurationError(
            f"naive datetime {when.isoformat()!r}: pass a timezone-aware datetime "
            "(e.g. datetime(..., tzinfo=timezone.utc))"
        )
    return when.timestamp()


SYSTEM_CLOCK = SystemClock()
