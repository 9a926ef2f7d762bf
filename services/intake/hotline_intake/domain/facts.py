"""Rules that decide whether a later write may replace what a record holds."""

from __future__ import annotations

from datetime import datetime


def supersedes(recorded_at: datetime | None, at: datetime) -> bool:
    """The newest fact wins, in whatever order facts arrive (replays are unordered)."""
    return recorded_at is None or at > recorded_at


def ems_confirmation_accepted(current_reached: bool | None) -> bool:
    """The first EMS confirmation stands; only "not reached" may be followed (by "reached")."""
    return current_reached is None or current_reached is False
