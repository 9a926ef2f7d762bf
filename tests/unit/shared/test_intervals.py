from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hotline_shared.intervals import Interval, bucket_of, checked_window, interval_starts
from hotline_shared.problems import Problem

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(("interval", "minutes"), [("15m", 15), ("1h", 60), ("1d", 1440)])
def test_each_interval_has_its_step(interval: str, minutes: int) -> None:
    assert Interval(interval).step == timedelta(minutes=minutes)


def test_interval_starts_cover_the_window() -> None:
    assert interval_starts(T0, T0 + timedelta(hours=1), timedelta(minutes=15)) == [
        T0 + timedelta(minutes=m) for m in (0, 15, 30, 45)
    ]
    assert bucket_of(T0 + timedelta(minutes=44, seconds=59), T0, timedelta(minutes=15)) == 2


def test_an_empty_window_names_to() -> None:
    with pytest.raises(Problem) as refused:
        checked_window(T0, T0, timedelta(days=1))
    assert refused.value.status == 422


def test_more_than_a_month_of_quarter_hours_names_interval() -> None:
    checked_window(T0, T0 + timedelta(days=31), timedelta(minutes=15))
    with pytest.raises(Problem) as refused:
        checked_window(T0, T0 + timedelta(days=32), timedelta(minutes=15))
    assert "interval" in str(refused.value.__dict__)
