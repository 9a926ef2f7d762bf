"""Rules that decide whether a later write may replace what a record holds."""

from __future__ import annotations

from datetime import datetime


def newest_wins(recorded: tuple[datetime, str] | None, candidate: tuple[datetime, str]) -> bool:
    """The newest fact wins, in whatever order facts arrive; two of the same instant (the
    database keeps milliseconds) are ordered by their id, so every replica and every replay
    keeps the same one."""
    return recorded is None or candidate > recorded


def ems_confirmation_accepted(current_reached: bool | None) -> bool:
    """The first EMS confirmation stands; only "not reached" may be followed (by "reached")."""
    return current_reached is None or current_reached is False
