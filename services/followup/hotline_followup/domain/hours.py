"""A center's calling hours in its own time zone: attempts to reach a caller are scheduled
only inside them (Follow-Up Matters; DESIGN.md §6). EMS confirmation is staff work and
runs around the clock."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from hotline_shared.events import FollowupKind

from hotline_followup.domain.task import Task

STAFF_WORK = frozenset({FollowupKind.EMS_CONFIRMATION})


class HoursError(ValueError):
    """A calling-hours setting that does not parse."""


@dataclass(frozen=True)
class CallingHours:
    zone: ZoneInfo
    opens: time
    closes: time

    @classmethod
    def parse(cls, timezone: str, hours: str) -> CallingHours:
        """`hours` is "HH:MM-HH:MM" in the center's local time (closing time excluded)."""
        try:
            start, end = (time.fromisoformat(part.strip()) for part in hours.split("-"))
            zone = ZoneInfo(timezone)
        except (ValueError, KeyError) as exc:
            raise HoursError(f"calling hours {hours!r} in {timezone!r}") from exc
        if not start < end:
            raise HoursError(f"calling hours {hours!r}: opening must come before closing")
        return cls(zone=zone, opens=start, closes=end)

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.zone).time()
        return self.opens <= local < self.closes

    def next_open(self, at: datetime) -> datetime:
        """`at` if the center is calling then, else when it opens next (in UTC, like `at`)."""
        if self.is_open(at):
            return at
        local = at.astimezone(self.zone)
        day = local.date() if local.time() < self.opens else local.date() + timedelta(days=1)
        opening = datetime.combine(day, self.opens, tzinfo=self.zone)
        return opening.astimezone(at.tzinfo)


def hold_to_calling_hours(task: Task, hours: CallingHours | None) -> Task:
    """Move a caller-facing task's next attempt into calling hours (staff work stays;
    `None`: no calling hours, as in the demo profile, where hours last seconds)."""
    if hours is None or task.kind in STAFF_WORK or task.terminal:
        return task
    due = hours.next_open(task.due_at)
    return task if due == task.due_at else replace(task, due_at=due)
