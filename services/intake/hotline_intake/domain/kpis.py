"""Contact-center KPIs by interval (reference/kpis.md), from each contact's stored facts.

A contact counts in the interval its queueing began in. Per interval:
offered, answered, abandoned (short abandons apart), answer rate = answered / offered,
abandonment rate = abandoned / offered, ASA = mean wait of the answered, service level =
answered within T seconds / (offered - short abandons).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hotline_shared.intervals import bucket_of, interval_starts


@dataclass(frozen=True)
class Queued:
    """One contact's contribution: when it queued, and its KPI metrics (as stored)."""

    queued_at: datetime
    metrics: Mapping[str, float]


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def interval_kpis(
    contacts: Iterable[Queued], *, start: datetime, end: datetime, step: timedelta,
    service_level_seconds: float,
) -> list[dict[str, Any]]:  # fmt: skip
    starts = interval_starts(start, end, step)
    sums = [dict.fromkeys(("offered", "answered", "abandoned", "short", "within", "wait"), 0.0)
            for _ in starts]  # fmt: skip
    for contact in contacts:
        if not start <= contact.queued_at < end:
            continue
        bucket = sums[bucket_of(contact.queued_at, start, step)]
        m = contact.metrics
        bucket["offered"] += m.get("offered", 0)
        bucket["answered"] += m.get("answered", 0)
        bucket["abandoned"] += m.get("abandoned", 0)
        bucket["short"] += m.get("short_abandoned", 0)
        if m.get("answered") and "wait_s" in m:
            bucket["wait"] += m["wait_s"]
            bucket["within"] += 1 if m["wait_s"] <= service_level_seconds else 0
    return [
        {
            "start": begin, "offered": int(b["offered"]), "answered": int(b["answered"]),
            "abandoned": int(b["abandoned"]), "short_abandoned": int(b["short"]),
            "answer_rate": ratio(b["answered"], b["offered"]),
            "abandonment_rate": ratio(b["abandoned"], b["offered"]),
            "average_speed_to_answer_seconds": ratio(b["wait"], b["answered"]),
            "service_level": ratio(b["within"], b["offered"] - b["short"]),
        }
        for begin, b in zip(starts, sums, strict=True)
    ]  # fmt: skip
