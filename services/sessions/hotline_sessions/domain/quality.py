"""Quality assurance: a weekly random sample of each counselor's closed sessions, reviewed
against the crisis-intervention steps (reference/clinical.md). Pure."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

Score = Field(ge=1, le=5, description="1 (missing) to 5 (exemplary)")


class Rubric(BaseModel):
    """A score per crisis-intervention step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    safety: int = Score
    exploring: int = Score
    de_escalation: int = Score
    rapport: int = Score
    problem_solving: int = Score
    follow_up: int = Score


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """An ISO week ("2026-W48") as [Monday 00:00 UTC, next Monday 00:00 UTC)."""
    year, _, number = week.partition("-W")
    monday = date.fromisocalendar(int(year), int(number), 1)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    return start, start + timedelta(days=7)


def sample(sessions: Iterable[tuple[str, str]], *, size: int, seed: str) -> dict[str, list[str]]:
    """Up to `size` session ids per counselor from (counselor, session id) pairs; the same
    seed (center and week) always draws the same sample, whoever asks and however often."""
    by_counselor: dict[str, list[str]] = defaultdict(list)
    for counselor, session_id in sessions:
        by_counselor[counselor].append(session_id)
    draw = random.Random(seed)
    return {
        counselor: sorted(draw.sample(sorted(ids), min(size, len(ids))))
        for counselor, ids in sorted(by_counselor.items())
    }
