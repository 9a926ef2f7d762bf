"""Contact KPIs by interval (pure): every contact lands in the interval it queued in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hotline_intake.domain.kpis import Queued, interval_kpis

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)


def answered(minute: float, wait: float) -> Queued:
    return Queued(T0 + timedelta(minutes=minute), {"offered": 1, "answered": 1, "wait_s": wait})


def abandoned(minute: float, *, short: bool = False) -> Queued:
    metrics = {"offered": 1, "short_abandoned": 1} if short else {"offered": 1, "abandoned": 1}
    return Queued(T0 + timedelta(minutes=minute), metrics)


def kpis(contacts: list[Queued], minutes: int = 45) -> list[dict[str, object]]:
    return interval_kpis(contacts, start=T0, end=T0 + timedelta(minutes=minutes), step=STEP,
                         service_level_seconds=20)  # fmt: skip


def test_an_empty_window_has_every_interval_with_no_rates() -> None:
    result = kpis([])
    assert [r["start"] for r in result] == [T0, T0 + STEP, T0 + 2 * STEP]
    assert all(r["offered"] == 0 and r["answer_rate"] is None for r in result)


def test_contacts_count_in_the_interval_they_queued_in() -> None:
    result = kpis([answered(14.99, 5), answered(15, 5), abandoned(44.9)])
    assert [r["offered"] for r in result] == [1, 1, 1]


def test_contacts_outside_the_window_are_left_out() -> None:
    result = kpis([answered(-0.1, 5), answered(45, 5)])
    assert sum(r["offered"] for r in result) == 0


def test_rates_asa_and_service_level_follow_the_definitions() -> None:
    (result,) = kpis([answered(1, 10), answered(2, 40), abandoned(3), abandoned(4, short=True)], 15)
    assert result["offered"] == 4 and result["answered"] == 2
    assert result["abandoned"] == 1 and result["short_abandoned"] == 1
    assert result["answer_rate"] == 0.5
    assert result["abandonment_rate"] == 0.25
    assert result["average_speed_to_answer_seconds"] == 25.0
    assert result["service_level"] == round(1 / 3, 4)  # short abandons leave the denominator


def test_an_answer_exactly_at_the_threshold_is_within_the_service_level() -> None:
    (result,) = kpis([answered(1, 20), answered(2, 20.5)], 15)
    assert result["service_level"] == 0.5


def test_a_last_short_interval_is_kept() -> None:
    result = kpis([answered(35, 1)], 40)
    assert [r["start"] for r in result] == [T0, T0 + STEP, T0 + 2 * STEP]
    assert result[-1]["offered"] == 1
