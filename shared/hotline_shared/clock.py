"""Time as a dependency: services read the clock through this, domain code takes `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to (tests, simulations)."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, when: datetime) -> None:
        self._now = ensure_utc(when)


def ensure_utc(when: datetime) -> datetime:
    """Reject naive datetimes; normalise aware ones to UTC."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("naive datetime: every timestamp in hotline is timezone-aware UTC")
    return when.astimezone(UTC)
