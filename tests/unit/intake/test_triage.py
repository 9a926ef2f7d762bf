"""C-SSRS screener triage over every answer combination (reference/clinical.md)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hotline_intake.domain.triage import (
    Answers,
    InvalidAnswers,
    OverrideDirection,
    OverrideNotAllowed,
    apply_override,
    rank,
    triage,
)
from hotline_shared.events import RiskLevel

TRI = (None, True, False)
ALL = [
    Answers(q1, q2, q3, q4, q5, q6, q6a)
    for q1, q2, q6 in itertools.product((True, False), repeat=3)
    for q3, q4, q5, q6a in itertools.product(TRI, repeat=4)
]


def is_valid(a: Answers) -> bool:
    asked_3_5 = (a.q3, a.q4, a.q5)
    if a.q2 and None in asked_3_5:
        return False
    if not a.q2 and any(v is not None for v in asked_3_5):
        return False
    return (a.q6a is not None) == a.q6


VALID = [a for a in ALL if is_valid(a)]
INVALID = [a for a in ALL if not is_valid(a)]


def clinical_table(a: Answers) -> RiskLevel:
    """The table as clinical.md words it, row by row."""
    behaviour_recent = a.q6 and a.q6a is True
    behaviour_older = a.q6 and a.q6a is False
    if a.q4 is True or a.q5 is True or behaviour_recent:
        return RiskLevel.HIGH
    if a.q3 is True or behaviour_older:
        return RiskLevel.MODERATE
    if a.q1 or a.q2:
        return RiskLevel.LOW
    return RiskLevel.NONE


def test_the_answer_space_is_what_the_skip_logic_allows() -> None:
    # q2 yes: 3 asked items × 2 each; q2 no: none asked. q6 yes: q6a × 2; q6 no: none.
    assert len(VALID) == 2 * (8 + 1) * (2 + 1)


@pytest.mark.parametrize("answers", VALID, ids=str)
def test_every_valid_combination_gets_the_clinical_level(answers: Answers) -> None:
    assert triage(answers) == clinical_table(answers)


@pytest.mark.parametrize("answers", INVALID, ids=str)
def test_every_invalid_combination_is_rejected_with_the_field_named(answers: Answers) -> None:
    with pytest.raises(InvalidAnswers) as err:
        triage(answers)
    assert err.value.field.startswith("answers.q")


@pytest.mark.parametrize(
    ("answers", "level"),
    [
        (Answers(False, False, None, None, None, False, None), RiskLevel.NONE),
        (Answers(True, False, None, None, None, False, None), RiskLevel.LOW),
        (Answers(True, True, False, False, False, False, None), RiskLevel.LOW),
        (Answers(True, True, True, False, False, False, None), RiskLevel.MODERATE),
        (Answers(False, False, None, None, None, True, False), RiskLevel.MODERATE),
        (Answers(True, True, True, True, False, False, None), RiskLevel.HIGH),
        (Answers(True, True, False, False, True, False, None), RiskLevel.HIGH),
        (Answers(False, False, None, None, None, True, True), RiskLevel.HIGH),
    ],
)
def test_worked_examples(answers: Answers, level: RiskLevel) -> None:
    assert triage(answers) == level


@pytest.mark.parametrize("answers", VALID, ids=str)
def test_a_further_yes_never_lowers_the_level(answers: Answers) -> None:
    for name in ("q1", "q3", "q4", "q5", "q6a"):
        if getattr(answers, name) is False:
            assert rank(triage(replace(answers, **{name: True}))) >= rank(triage(answers))


def test_q2_no_with_q3_answered_names_q3() -> None:
    with pytest.raises(InvalidAnswers) as err:
        triage(Answers(True, False, True, None, None, False, None))
    assert err.value.field == "answers.q3"


def test_q6a_without_q6_names_q6a() -> None:
    with pytest.raises(InvalidAnswers) as err:
        triage(Answers(False, False, None, None, None, False, True))
    assert err.value.field == "answers.q6a"


@pytest.mark.parametrize("computed", list(RiskLevel))
@pytest.mark.parametrize("override", list(RiskLevel))
@pytest.mark.parametrize("is_supervisor", [True, False])
def test_override_raise_by_anyone_lower_by_supervisor_only(
    computed: RiskLevel, override: RiskLevel, is_supervisor: bool
) -> None:
    if rank(override) < rank(computed) and not is_supervisor:
        with pytest.raises(OverrideNotAllowed):
            apply_override(computed, override, is_supervisor=is_supervisor)
        return
    level, direction = apply_override(computed, override, is_supervisor=is_supervisor)
    assert level == override
    expected = (
        None if override == computed
        else OverrideDirection.RAISED if rank(override) > rank(computed)
        else OverrideDirection.LOWERED
    )  # fmt: skip
    assert direction == expected


def test_no_override_keeps_the_computed_level() -> None:
    assert apply_override(RiskLevel.HIGH, None, is_supervisor=False) == (RiskLevel.HIGH, None)
