"""The weekly QA sample and the review rubric (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hotline_sessions.domain.quality import Rubric, sample, week_bounds
from pydantic import ValidationError

SESSIONS = [("ana", f"a{n}") for n in range(10)] + [("bo", "b1"), ("bo", "b2")]


def test_each_counselor_gets_up_to_size_sessions() -> None:
    drawn = sample(SESSIONS, size=3, seed="center-01:2026-W48")
    assert set(drawn) == {"ana", "bo"}
    assert len(drawn["ana"]) == 3 and set(drawn["ana"]) <= {f"a{n}" for n in range(10)}
    assert sorted(drawn["bo"]) == ["b1", "b2"]  # fewer than the size: all of them


def test_the_same_week_draws_the_same_sample_whatever_the_order() -> None:
    first = sample(SESSIONS, size=3, seed="center-01:2026-W48")
    assert sample(list(reversed(SESSIONS)), size=3, seed="center-01:2026-W48") == first


def test_another_week_draws_another_sample() -> None:
    weeks = {
        tuple(sample(SESSIONS, size=3, seed=f"center-01:2026-W{w}")["ana"]) for w in range(40, 50)
    }
    assert len(weeks) > 1


def test_an_iso_week_runs_monday_to_monday_utc() -> None:
    assert week_bounds("2026-W48") == (
        datetime(2026, 11, 23, tzinfo=UTC),
        datetime(2026, 11, 30, tzinfo=UTC),
    )
    assert week_bounds("2027-W01")[0] == datetime(2027, 1, 4, tzinfo=UTC)


def test_week_53_of_a_year_without_one_is_refused() -> None:
    with pytest.raises(ValueError):
        week_bounds("2025-W53")


@pytest.mark.parametrize("score", [0, 6])
def test_a_score_outside_one_to_five_is_refused(score: int) -> None:
    with pytest.raises(ValidationError):
        Rubric(
            safety=score, exploring=3, de_escalation=3, rapport=3, problem_solving=3, follow_up=3
        )
