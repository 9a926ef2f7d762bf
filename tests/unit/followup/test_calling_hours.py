"""Attempts are scheduled only inside the center's calling hours, in its own time zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hotline_followup.adapters.tasks import new_task
from hotline_followup.domain.hours import CallingHours, HoursError, hold_to_calling_hours
from hotline_followup.domain.policy import TaskSpec
from hotline_shared.events import FollowupKind

LA = CallingHours.parse("America/Los_Angeles", "09:00-21:00")


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # 20:59 in Los Angeles (PST, UTC-8) is 04:59 UTC the next day: still open
        (datetime(2026, 12, 2, 4, 59, tzinfo=UTC), datetime(2026, 12, 2, 4, 59, tzinfo=UTC)),
        # 21:00 local closes: the next opening is 09:00 local = 17:00 UTC, the same UTC day
        (datetime(2026, 12, 2, 5, 0, tzinfo=UTC), datetime(2026, 12, 2, 17, 0, tzinfo=UTC)),
        # 03:00 local (11:00 UTC): later that local morning
        (datetime(2026, 12, 2, 11, 0, tzinfo=UTC), datetime(2026, 12, 2, 17, 0, tzinfo=UTC)),
        # 23:30 UTC = 15:30 local: open
        (datetime(2026, 12, 2, 23, 30, tzinfo=UTC), datetime(2026, 12, 2, 23, 30, tzinfo=UTC)),
        # summer time (PDT, UTC-7): 09:00 local = 16:00 UTC
        (datetime(2026, 7, 1, 15, 59, tzinfo=UTC), datetime(2026, 7, 1, 16, 0, tzinfo=UTC)),
    ],
)
def test_the_next_attempt_falls_inside_the_centers_local_calling_hours(
    utc: datetime, expected: datetime
) -> None:
    assert LA.next_open(utc) == expected
    assert LA.is_open(LA.next_open(utc))


def test_every_minute_of_a_week_maps_into_calling_hours_and_never_backwards() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)  # across the end of summer time in the US
    for minute in range(0, 7 * 24 * 60, 7):
        at = start + timedelta(minutes=minute)
        due = LA.next_open(at)
        assert due >= at and LA.is_open(due) and due - at < timedelta(hours=13)


def spec(kind: FollowupKind, due: datetime) -> TaskSpec:
    return TaskSpec(id="t", kind=kind, contact_id="c", center_id="center-01", created_at=due,
                    due_at=due, max_attempts=3, policy_version="p")  # fmt: skip


def test_a_callback_due_at_night_waits_for_the_morning_ems_confirmation_does_not() -> None:
    night = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # midnight in Los Angeles
    callback = hold_to_calling_hours(
        new_task(spec(FollowupKind.CALLBACK, night), timedelta(hours=1)), LA
    )
    ems = new_task(spec(FollowupKind.EMS_CONFIRMATION, night), timedelta(hours=1))
    assert callback.due_at == datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
    assert hold_to_calling_hours(ems, LA) == ems
    assert hold_to_calling_hours(
        replace(callback, due_at=night + timedelta(hours=12)), LA
    ).due_at == (night + timedelta(hours=12))


@pytest.mark.parametrize(
    ("zone", "hours"), [("Mars/Olympus", "09:00-21:00"), ("UTC", "21:00-09:00"), ("UTC", "9-5")]
)
def test_bad_calling_hours_are_refused(zone: str, hours: str) -> None:
    with pytest.raises(HoursError):
        CallingHours.parse(zone, hours)
