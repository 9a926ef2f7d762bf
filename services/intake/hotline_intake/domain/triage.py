"""C-SSRS Screener triage (Columbia clinical triage guidance; reference/clinical.md).

high     = q4 yes, or q5 yes, or q6 yes within the past 3 months (q6a yes)
moderate = q3 yes, or q6 yes longer ago (q6a no)
low      = q1 or q2 yes, nothing above
none     = every answer no
Skip logic: q2 "no" means q3-q5 are not asked; q6a is asked only after q6 "yes".
An answer set that breaks the skip logic is invalid input, never guessed at.
Imminent risk is not a screener level: it is an escalation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hotline_shared.events import RiskLevel

RULE_VERSION = "cssrs-screener-triage-v1"

LEVEL_ORDER = (RiskLevel.NONE, RiskLevel.LOW, RiskLevel.MODERATE, RiskLevel.HIGH)

# LOINC codes of the HL7 US Behavioral Health Profiles QuestionnaireResponse.
LOINC = {
    "q1": "93246-7", "q2": "93247-5", "q3": "93248-3", "q4": "93249-1",
    "q5": "93250-9", "q6": "93267-3", "q6a": "93269-9", "result": "93374-7",
}  # fmt: skip


class InvalidAnswers(ValueError):
    """The answer set breaks the screener's skip logic; `field` names the offending item."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Answers:
    q1: bool
    q2: bool
    q3: bool | None
    q4: bool | None
    q5: bool | None
    q6: bool
    q6a: bool | None

    def validate(self) -> None:
        if not self.q2:
            for name in ("q3", "q4", "q5"):
                if getattr(self, name) is not None:
                    raise InvalidAnswers(f"answers.{name}", f"{name} is not asked when q2 is no")
        else:
            for name in ("q3", "q4", "q5"):
                if getattr(self, name) is None:
                    raise InvalidAnswers(
                        f"answers.{name}", f"{name} must be answered when q2 is yes"
                    )
        if self.q6 and self.q6a is None:
            raise InvalidAnswers("answers.q6a", "q6a must be answered when q6 is yes")
        if not self.q6 and self.q6a is not None:
            raise InvalidAnswers("answers.q6a", "q6a is not asked when q6 is no")


ITEMS = ("q1", "q2", "q3", "q4", "q5", "q6", "q6a")
PartialAnswers = dict[str, bool | None]


def asked(partial: PartialAnswers) -> list[str]:
    """The items the skip logic asks, in order, given the answers so far."""
    items = ["q1", "q2"]
    if partial.get("q2"):
        items += ["q3", "q4", "q5"]
    items.append("q6")
    if partial.get("q6"):
        items.append("q6a")
    return items


def next_question(partial: PartialAnswers) -> str | None:
    """Where an interrupted screen resumes; raises InvalidAnswers for a set the skip logic
    could not have produced (a gap, or an answer to an item that is not asked)."""
    sequence = asked(partial)
    for name in ITEMS:
        if partial.get(name) is not None and name not in sequence:
            raise InvalidAnswers(f"answers.{name}", f"{name} is not asked after these answers")
    missing = [name for name in sequence if partial.get(name) is None]
    if missing:
        first_gap = sequence.index(missing[0])
        later = [name for name in sequence[first_gap:] if partial.get(name) is not None]
        if later:
            raise InvalidAnswers(
                f"answers.{missing[0]}", f"{missing[0]} is asked before {later[0]}"
            )
        return missing[0]
    return None


def complete(partial: PartialAnswers) -> Answers:
    """A finished screen's answers; raises InvalidAnswers naming what is still unanswered.
    An interrupted screen is never triaged: not as "none", not at all."""
    pending = next_question(partial)
    if pending is not None:
        raise InvalidAnswers(f"answers.{pending}", f"{pending} is not answered yet")
    q1, q2, q6 = partial["q1"], partial["q2"], partial["q6"]
    assert q1 is not None and q2 is not None and q6 is not None
    return Answers(q1=q1, q2=q2, q3=partial.get("q3"), q4=partial.get("q4"),
                   q5=partial.get("q5"), q6=q6, q6a=partial.get("q6a"))  # fmt: skip


def triage(answers: Answers) -> RiskLevel:
    """The screener's risk level; raises InvalidAnswers for an impossible answer set."""
    answers.validate()
    if answers.q4 or answers.q5 or (answers.q6 and answers.q6a):
        return RiskLevel.HIGH
    if answers.q3 or (answers.q6 and answers.q6a is False):
        return RiskLevel.MODERATE
    if answers.q1 or answers.q2:
        return RiskLevel.LOW
    return RiskLevel.NONE


class OverrideDirection(StrEnum):
    RAISED = "raised"
    LOWERED = "lowered"


class OverrideNotAllowed(PermissionError):
    """Lowering the computed level needs a supervisor."""


def rank(level: RiskLevel) -> int:
    return LEVEL_ORDER.index(level)


def apply_override(
    computed: RiskLevel, override: RiskLevel | None, *, is_supervisor: bool
) -> tuple[RiskLevel, OverrideDirection | None]:
    """A counselor may raise the level (with a reason); lowering it needs a supervisor."""
    if override is None or override == computed:
        return computed, None
    if rank(override) > rank(computed):
        return override, OverrideDirection.RAISED
    if not is_supervisor:
        raise OverrideNotAllowed("only a supervisor may lower the screener's level")
    return override, OverrideDirection.LOWERED
