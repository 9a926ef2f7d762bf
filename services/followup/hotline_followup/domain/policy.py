"""Follow-up policy as versioned data (DESIGN.md §6, reference/clinical.md), and the pure
function that turns an event into the tasks it creates or cancels."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hotline_shared.events import (
    ContactAbandoned,
    ContactAnswered,
    ContactCallbackNumberRecorded,
    Envelope,
    FollowupKind,
    RiskAssessed,
    RiskEmsConfirmed,
    RiskEscalated,
    RiskLevel,
    SessionClosed,
)  # fmt: skip
from hotline_shared.ids import derive_id
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline_followup.domain.caring import SeriesSpec, channel_for

DAY, HOUR, MINUTE = 86_400.0, 3_600.0, 60.0

# Caring Contacts: day 1, week 1, week 2, months 1, 2, 3, 4, 6, 8, 10, 12.
CARING_CADENCE_DAYS = (1, 7, 14, 30, 60, 90, 120, 180, 240, 300, 365)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    first_due_seconds: float = Field(gt=0, description="first attempt due after the trigger")
    spacing_seconds: float = Field(gt=0, description="between attempts")
    max_attempts: int | None = Field(default=None, ge=1, description="None: until completed")


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = "default-2026.11"
    callback: Rule = Rule(
        first_due_seconds=30 * MINUTE, spacing_seconds=30 * MINUTE, max_attempts=3
    )
    ems_confirmation: Rule = Rule(first_due_seconds=HOUR, spacing_seconds=HOUR, max_attempts=None)
    safety_follow_up: Rule = Rule(
        first_due_seconds=24 * HOUR, spacing_seconds=24 * HOUR, max_attempts=5
    )
    follow_up: Rule = Rule(first_due_seconds=48 * HOUR, spacing_seconds=24 * HOUR, max_attempts=3)
    check_in: Rule = Rule(first_due_seconds=48 * HOUR, spacing_seconds=24 * HOUR, max_attempts=3)
    safety_follow_up_without_consent: bool = Field(
        default=False, description="call high/imminent-risk callers back even without consent"
    )
    caring_cadence_days: tuple[float, ...] = Field(default=CARING_CADENCE_DAYS, min_length=1)
    caring_window_seconds: float = Field(default=DAY, gt=0, description="send within, per message")
    at_risk_fraction: float = Field(default=0.75, gt=0, lt=1)
    time_scale: float = Field(default=1.0, gt=0, description="demo profile: shrink all durations")

    def rule(self, kind: FollowupKind) -> Rule:
        match kind:
            case FollowupKind.CALLBACK:
                return self.callback
            case FollowupKind.EMS_CONFIRMATION:
                return self.ems_confirmation
            case FollowupKind.SAFETY_FOLLOW_UP:
                return self.safety_follow_up
            case FollowupKind.FOLLOW_UP:
                return self.follow_up
            case FollowupKind.CHECK_IN:
                return self.check_in
            case FollowupKind.CARING_CONTACT:
                raise ValueError("caring contacts are a message series, not call attempts")

    def seconds(self, value: float) -> timedelta:
        return timedelta(seconds=value * self.time_scale)


DEMO_TIME_SCALE = 1 / 720  # an hour becomes five seconds


class PolicyError(ValueError):
    """A center's policy does not parse; the message names the center and the field."""


def load_policy(center_id: str, overrides: dict[str, Any], *, base: Policy | None = None) -> Policy:
    merged = (base or Policy()).model_dump()
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    try:
        return Policy.model_validate(merged)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise PolicyError(
            f"center {center_id}: invalid follow-up policy field(s): {fields}"
        ) from exc


@dataclass(frozen=True)
class TaskSpec:
    """A task to create. `id` is derived from its cause, so a replay creates nothing new."""

    id: str
    kind: FollowupKind
    contact_id: str
    center_id: str
    created_at: datetime
    due_at: datetime
    max_attempts: int | None
    policy_version: str
    caller_token: str | None = None
    cause: str = ""
    needs_number: bool = False  # a callback for a contact that came without a number


@dataclass(frozen=True)
class Plan:
    create: list[TaskSpec] = field(default_factory=list)
    series: SeriesSpec | None = None
    cancel_callbacks_for_caller: str | None = None  # caller_token answered again
    complete_ems_for: str | None = None  # escalation id confirmed reached
    number_for: str | None = None  # contact id whose waiting callback got a number


def plan(event: Envelope, policy: Policy) -> Plan:
    """What an event means for follow-up, by the policy table. Pure."""
    center = event.centerid
    if isinstance(event, ContactAbandoned):
        data = event.data
        if data.short:
            return Plan()  # hung up within seconds: not a caller who waited
        return Plan(create=[_task(policy, FollowupKind.CALLBACK, data.contact_id, center,
                                  data.occurred_at, cause=data.contact_id, caller=data.caller_token,
                                  needs_number=not data.caller_reachable)])  # fmt: skip
    if isinstance(event, ContactCallbackNumberRecorded):
        return Plan(number_for=event.data.contact_id)
    if isinstance(event, ContactAnswered):
        token = event.data.caller_token
        return Plan(cancel_callbacks_for_caller=token) if token else Plan()
    if isinstance(event, RiskEscalated):
        escalation = event.data
        return Plan(create=[_task(policy, FollowupKind.EMS_CONFIRMATION, escalation.contact_id, center,
                                  escalation.escalated_at, cause=escalation.escalation_id)])  # fmt: skip
    if (
        isinstance(event, RiskAssessed)
        and event.data.followup_id
        and event.data.level is RiskLevel.HIGH
    ):
        # a re-screen at high risk during a follow-up call: a new safety follow-up (and, as
        # for any high screening, a supervisor alert at once: domain/alerts.py)
        screen = event.data
        return Plan(create=[_task(policy, FollowupKind.SAFETY_FOLLOW_UP, screen.contact_id, center,
                                  screen.assessed_at, cause=f"rescreen:{screen.screening_id}")])  # fmt: skip
    if isinstance(event, RiskEmsConfirmed):
        return Plan(complete_ems_for=event.data.escalation_id) if event.data.reached else Plan()
    if isinstance(event, SessionClosed):
        return Plan(create=_after_session(event, policy), series=_caring_series(event, policy))
    return Plan()


def _after_session(event: SessionClosed, policy: Policy) -> list[TaskSpec]:
    data, center = event.data, event.centerid
    tasks: list[TaskSpec] = []
    kind: FollowupKind | None = None
    if data.escalated or data.risk_level is RiskLevel.HIGH:
        kind = FollowupKind.SAFETY_FOLLOW_UP
    elif data.risk_level is RiskLevel.MODERATE:
        kind = FollowupKind.FOLLOW_UP
    elif data.risk_level is RiskLevel.LOW and data.followup_consent:
        kind = FollowupKind.CHECK_IN
    if kind is not None and _may_reach_out(kind, consented=data.followup_consent, policy=policy):
        tasks.append(_task(policy, kind, data.contact_id, center, data.closed_at, cause=data.session_id,
                           caller=data.caller_token))  # fmt: skip
    return tasks


def _caring_series(event: SessionClosed, policy: Policy) -> SeriesSpec | None:
    """One series per consenting caller: its messages on the cadence from the close."""
    data = event.data
    if not data.caring_contacts_consent:
        return None
    return SeriesSpec(
        id=derive_id("caring", data.session_id), contact_id=data.contact_id,
        center_id=event.centerid, session_id=data.session_id, caller_token=data.caller_token,
        channel=channel_for(data.caring_contacts_channel), closed_at=data.closed_at,
        offsets=[policy.seconds(days * DAY) for days in policy.caring_cadence_days],
        window=policy.seconds(policy.caring_window_seconds), policy_version=policy.version,
    )  # fmt: skip


def _may_reach_out(kind: FollowupKind, *, consented: bool, policy: Policy) -> bool:
    """Outreach to the caller needs the consent recorded at close; a center may waive it for
    a safety follow-up (high or imminent risk). EMS confirmation is staff work: always."""
    waived = kind is FollowupKind.SAFETY_FOLLOW_UP and policy.safety_follow_up_without_consent
    return consented or waived


def callback_id(contact_id: str) -> str:
    return derive_id("followup", str(FollowupKind.CALLBACK), contact_id)


def _task(
    policy: Policy, kind: FollowupKind, contact_id: str, center_id: str, start: datetime, *,
    cause: str, caller: str | None = None, needs_number: bool = False,
) -> TaskSpec:  # fmt: skip
    rule = policy.rule(kind)
    return TaskSpec(
        id=derive_id("followup", str(kind), cause), kind=kind, contact_id=contact_id,
        center_id=center_id, created_at=start, due_at=start + policy.seconds(rule.first_due_seconds),
        max_attempts=rule.max_attempts, policy_version=policy.version, caller_token=caller,
        cause=cause, needs_number=needs_number,
    )  # fmt: skip
