"""Interrupted C-SSRS screens: every one of the 3^7 answer assignments, exhaustively."""

from __future__ import annotations

import itertools

import pytest
from hotline_intake.domain.triage import (
    ITEMS,
    Answers,
    InvalidAnswers,
    PartialAnswers,
    complete,
    next_question,
    triage,
)

ALL = [
    dict(zip(ITEMS, values, strict=True))
    for values in itertools.product((None, True, False), repeat=7)
]


def valid_runs() -> list[list[tuple[str, bool]]]:
    """Every answer sequence the screener can produce, asked in order (complete ones)."""
    runs = []
    for q1, q2, q6 in itertools.product((True, False), repeat=3):
        middles = list(itertools.product((True, False), repeat=3)) if q2 else [()]
        for middle in middles:
            for q6a in (True, False) if q6 else (None,):
                run = [
                    ("q1", q1),
                    ("q2", q2),
                    *zip(("q3", "q4", "q5"), middle, strict=False),
                    ("q6", q6),
                ]
                if q6a is not None:
                    run.append(("q6a", q6a))
                runs.append(run)
    return runs


PREFIXES = {tuple(run[:n]) for run in valid_runs() for n in range(len(run) + 1)}


def as_prefix(partial: PartialAnswers) -> tuple[tuple[str, bool], ...] | None:
    answered = [(name, v) for name, v in partial.items() if v is not None]
    return tuple(answered)


@pytest.mark.parametrize(
    "partial", ALL, ids=lambda p: "".join("-yn"[[None, True, False].index(v)] for v in p.values())
)
def test_a_partial_screen_resumes_where_it_stopped_and_is_never_triaged(
    partial: PartialAnswers,
) -> None:
    prefix = as_prefix(partial)
    if prefix not in PREFIXES:
        with pytest.raises(InvalidAnswers):
            next_question(partial)
        with pytest.raises(InvalidAnswers):
            complete(partial)
        return
    resume = next_question(partial)
    full = any(len(run) == len(prefix) and tuple(run) == prefix for run in valid_runs())
    if full:
        assert resume is None
        answers = complete(partial)
        assert triage(answers) == triage(Answers(**{k: partial[k] for k in ITEMS}))  # type: ignore[arg-type]
    else:
        assert resume is not None and partial[resume] is None
        with pytest.raises(InvalidAnswers) as unfinished:
            complete(partial)  # an interrupted screen has no level, not even "none"
        assert unfinished.value.field == f"answers.{resume}"


def test_the_screener_has_54_complete_answer_sets() -> None:
    assert len(valid_runs()) == 54


def test_a_caller_who_hangs_up_after_q2_resumes_at_q3() -> None:
    assert next_question({"q1": True, "q2": True}) == "q3"
    assert next_question({"q1": True, "q2": False}) == "q6"
    assert next_question({}) == "q1"
