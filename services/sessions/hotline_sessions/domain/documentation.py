"""What a counselor documents: notes structured by the crisis-intervention steps and the
Lifeline risk domains, and the Stanley-Brown safety plan (reference/clinical.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Text = Field(default="", max_length=4000)
MAX_NOTES_BYTES = 64 * 1024


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Safety(Strict):
    safe_now: bool | None = None
    agitation: str = Text
    access_to_means: str = Text


class Exploring(Strict):
    precipitating_event: str = Text
    persons_view: str = Text
    distress: int | None = Field(default=None, ge=0, le=10, description="subjective distress 0-10")


class ProblemSolving(Strict):
    coping_tried: str = Text
    alternatives: str = Text


class FollowUpPlan(Strict):
    resources: str = Text
    supports: str = Text
    referrals: str = Text


class Desire(StrEnum):
    PSYCHOLOGICAL_PAIN = "psychological-pain"
    HOPELESSNESS = "hopelessness"
    PERCEIVED_BURDEN = "perceived-burden"
    FEELING_TRAPPED = "feeling-trapped"
    INTOLERABLY_ALONE = "intolerably-alone"


class Capability(StrEnum):
    HISTORY_OF_ATTEMPTS = "history-of-attempts"
    EXPOSURE = "exposure-to-suicide"
    ACCESS_TO_MEANS = "access-to-lethal-means"
    INTOXICATION = "current-intoxication"
    EXTREME_RAGE = "extreme-rage"


class Intent(StrEnum):
    ATTEMPT_IN_PROGRESS = "attempt-in-progress"
    PLAN_WITH_METHOD = "plan-with-known-method"
    PREPARATORY_BEHAVIOR = "preparatory-behavior"
    EXPRESSED_INTENT = "expressed-intent"


class Buffer(StrEnum):
    IMMEDIATE_SUPPORTS = "immediate-supports"
    SOCIAL_SUPPORTS = "social-supports"
    PLANNING_FOR_FUTURE = "planning-for-future"
    ENGAGEMENT_WITH_HELPER = "engagement-with-helper"
    AMBIVALENCE = "ambivalence"
    CORE_VALUES = "core-values"
    SENSE_OF_PURPOSE = "sense-of-purpose"


class RiskDomains(Strict):
    """The four Lifeline risk-assessment domains, as checklists."""

    desire: frozenset[Desire] = frozenset()
    capability: frozenset[Capability] = frozenset()
    intent: frozenset[Intent] = frozenset()
    buffers: frozenset[Buffer] = frozenset()


class Notes(Strict):
    """Session notes following the six crisis-intervention steps, plus free text."""

    safety: Safety = Safety()
    exploring: Exploring = Exploring()
    de_escalation: str = Text
    rapport: str = Text
    problem_solving: ProblemSolving = ProblemSolving()
    follow_up: FollowUpPlan = FollowUpPlan()
    risk_domains: RiskDomains = RiskDomains()
    free_text: str = Field(default="", max_length=20000)


Items = Field(default=(), max_length=20)
Item = Annotated[str, Field(max_length=500)]  # one entry of a safety-plan section


class SafetyPlan(Strict):
    """Stanley-Brown Safety Planning Intervention: six sections and the reason for living."""

    warning_signs: tuple[Item, ...] = Items
    internal_coping: tuple[Item, ...] = Items
    distracting_people_and_places: tuple[Item, ...] = Items
    people_to_ask_for_help: tuple[Item, ...] = Items
    professionals_and_agencies: tuple[Item, ...] = Items
    making_environment_safe: tuple[Item, ...] = Items
    reason_for_living: str = Field(default="", max_length=2000)
