"""Time intervals for the KPI APIs: `from`/`to`/`interval` parameters, and the buckets."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from hotline_shared.problems import Problem

MAX_BUCKETS = 3_000  # a month of 15-minute intervals


class Interval(StrEnum):
    MINUTES_15 = "15m"
    HOUR = "1h"
    DAY = "1d"

    @property
    def step(self) -> timedelta:
        return {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "1d": timedelta(days=1)}[
            self.value
        ]


def checked_window(start: datetime, end: datetime, step: timedelta) -> None:
    """422 naming the field for an empty or too long window."""
    if end <= start:
        raise Problem(422, "Empty window", detail="`to` must be after `from`", field="to")
    if (end - start) / step > MAX_BUCKETS:
        raise Problem(422, "Too many intervals", field="interval",
                      detail=f"at most {MAX_BUCKETS} intervals per request")  # fmt: skip


def interval_starts(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """The start of every interval of `step` from `start` until `end` (the last may be short)."""
    starts = []
    at = start
    while at < end:
        starts.append(at)
        at += step
    return starts


def bucket_of(at: datetime, start: datetime, step: timedelta) -> int:
    return int((at - start) / step)
