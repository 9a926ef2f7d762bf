"""Event contract v1: CloudEvents 1.0 envelope and one frozen model per type.

On Kafka the CloudEvents Kafka protocol binding in structured mode: the whole envelope is the
record value (JSON), `content-type: application/cloudevents+json; charset=utf-8` its one
header, the subject (contact_id) its key. A trace continues through an event by the
distributed-tracing extension (`traceparent`, `tracestate`), present only when traced.

PHI rule: no event carries a phone number, a name, free text or a note. Callers appear
only as `caller_token` (HMAC of the number with the center's pepper).
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from hotline_shared.ids import event_id_for
from hotline_shared.tracing import trace_context

# ---- topics -------------------------------------------------------------------------

CONTACTS_TOPIC = "hotline.contacts.v1"
RISK_TOPIC = "hotline.risk.v1"
SESSIONS_TOPIC = "hotline.sessions.v1"
FOLLOWUPS_TOPIC = "hotline.followups.v1"
SECURITY_TOPIC = "hotline.security.v1"
DLQ_TOPIC = "hotline.dlq.v1"
ALL_TOPICS = (
    CONTACTS_TOPIC, RISK_TOPIC, SESSIONS_TOPIC, FOLLOWUPS_TOPIC, SECURITY_TOPIC, DLQ_TOPIC,
)  # fmt: skip


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---- shared vocabularies ------------------------------------------------------------


class Provider(StrEnum):
    TWILIO = "twilio"
    AMAZON_CONNECT = "amazon-connect"
    ASTERISK = "asterisk"
    FREESWITCH = "freeswitch"
    GENESYS = "genesys"
    OTHER = "other"


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    TEXT = "text"
    OTHER = "other"


class RiskLevel(StrEnum):
    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class FollowupKind(StrEnum):
    CALLBACK = "callback"
    EMS_CONFIRMATION = "ems-confirmation"
    SAFETY_FOLLOW_UP = "safety-follow-up"
    FOLLOW_UP = "follow-up"
    CHECK_IN = "check-in"
    CARING_CONTACT = "caring-contact"


class AttemptOutcome(StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no-answer"
    VOICEMAIL = "voicemail"
    WRONG_NUMBER = "wrong-number"
    DECLINED = "declined"
    ESCALATED = "escalated-to-imminent-risk"


# ---- data payloads ------------------------------------------------------------------


class ContactData(Frozen):
    contact_id: str
    provider: Provider
    provider_contact_id: str
    channel: Channel
    occurred_at: AwareDatetime
    caller_token: str | None
    caller_reachable: bool


class ContactQueuedData(ContactData):
    queue_id: str | None = None


class ContactAnsweredData(ContactData):
    queued_at: AwareDatetime | None = None
    counselor_id: str | None = None
    leg: int = Field(default=1, ge=1)


class ContactTransferredData(ContactData):
    to_center_id: str | None = None
    leg: int = Field(default=1, ge=1)


class ContactEndedData(ContactData):
    answered_at: AwareDatetime | None = None


class ContactAbandonedData(ContactData):
    queued_at: AwareDatetime | None = None
    short: bool = Field(
        default=False,
        description="left within the center's short-abandon threshold: counted apart, no callback",
    )


class ContactFailedData(ContactData):
    """The caller never reached a counselor through no choice of theirs (queue full, a
    provider or system error): not an abandonment, no callback, counted apart."""

    reason: str = Field(min_length=1, max_length=64)


class RiskOverride(Frozen):
    level: RiskLevel
    reason_code: str = Field(min_length=1, max_length=64)


class RiskAssessedData(Frozen):
    contact_id: str
    screening_id: str
    level: RiskLevel
    computed_level: RiskLevel
    rule_version: str
    override: RiskOverride | None = None
    assessed_by: str
    assessed_at: AwareDatetime
    followup_id: str | None = Field(
        default=None, max_length=200, description="a re-screen made during this follow-up call"
    )


class EscalationReason(StrEnum):
    ATTEMPT_IN_PROGRESS = "attempt-in-progress"
    UNABLE_TO_STAY_SAFE = "unable-to-stay-safe"
    UNWILLING_TO_STAY_SAFE = "unwilling-to-stay-safe"
    THIRD_PARTY_REPORT = "third-party-report"


class RiskEscalatedData(Frozen):
    contact_id: str
    escalation_id: str
    reason: EscalationReason
    actions: tuple[str, ...] = ()
    escalated_by: str
    escalated_at: AwareDatetime


class RiskEmsConfirmedData(Frozen):
    contact_id: str
    escalation_id: str
    reached: bool
    confirmed_by: str
    confirmed_at: AwareDatetime


class SessionOpenedData(Frozen):
    contact_id: str
    session_id: str
    leg: int = Field(ge=1)
    counselor_id: str | None = None
    previous_session_id: str | None = None
    opened_at: AwareDatetime


class SessionClosedData(Frozen):
    contact_id: str
    session_id: str
    disposition: str
    risk_level: RiskLevel
    escalated: bool
    followup_consent: bool
    caring_contacts_consent: bool
    caring_contacts_channel: str | None = None
    caller_token: str | None = None
    closed_by: str
    closed_at: AwareDatetime


class DocumentationOverdueData(Frozen):
    contact_id: str
    session_id: str | None
    ended_at: AwareDatetime
    overdue_at: AwareDatetime


class FollowupData(Frozen):
    contact_id: str
    followup_id: str
    kind: FollowupKind


class FollowupScheduledData(FollowupData):
    due_at: AwareDatetime
    deadline_at: AwareDatetime
    attempt_no: int = Field(ge=1)
    policy_version: str


class FollowupDueData(FollowupData):
    due_at: AwareDatetime
    attempt_no: int = Field(ge=1)


class FollowupAttemptedData(FollowupData):
    attempt_no: int = Field(ge=1)
    outcome: AttemptOutcome
    attempted_at: AwareDatetime


class FollowupCompletedData(FollowupData):
    completed_at: AwareDatetime


class FollowupMissedData(FollowupData):
    attempts: int = Field(ge=0)
    missed_at: AwareDatetime


class FollowupSlaData(FollowupData):
    deadline_at: AwareDatetime
    observed_at: AwareDatetime


# ---- envelope -----------------------------------------------------------------------


class Envelope(Frozen):
    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str
    subject: str = Field(min_length=1, description="contact_id: the Kafka key")
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    centerid: str = Field(min_length=1)
    correlationid: str = Field(min_length=1)
    traceparent: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        exclude_if=lambda v: v is None,
        description="CloudEvents distributed-tracing extension: the W3C trace context",
    )
    tracestate: str | None = Field(default=None, max_length=512, exclude_if=lambda v: v is None)
    data: Any

    @property
    def topic(self) -> str:
        return TOPIC_OF_TYPE[self.type]


class ContactStarted(Envelope):
    type: Literal["hotline.contact.started.v1"] = "hotline.contact.started.v1"
    data: ContactData


class ContactQueued(Envelope):
    type: Literal["hotline.contact.queued.v1"] = "hotline.contact.queued.v1"
    data: ContactQueuedData


class ContactAnswered(Envelope):
    type: Literal["hotline.contact.answered.v1"] = "hotline.contact.answered.v1"
    data: ContactAnsweredData


class ContactTransferred(Envelope):
    type: Literal["hotline.contact.transferred.v1"] = "hotline.contact.transferred.v1"
    data: ContactTransferredData


class ContactEnded(Envelope):
    type: Literal["hotline.contact.ended.v1"] = "hotline.contact.ended.v1"
    data: ContactEndedData


class ContactAbandoned(Envelope):
    type: Literal["hotline.contact.abandoned.v1"] = "hotline.contact.abandoned.v1"
    data: ContactAbandonedData


class ContactCallbackNumberRecorded(Envelope):
    """A number to call back was recorded for a contact that arrived without one (chat,
    withheld caller id); the number itself stays in intake, encrypted."""

    type: Literal["hotline.contact.callback-number-recorded.v1"] = (
        "hotline.contact.callback-number-recorded.v1"
    )
    data: ContactData


class ContactFailed(Envelope):
    type: Literal["hotline.contact.failed.v1"] = "hotline.contact.failed.v1"
    data: ContactFailedData


class RiskAssessed(Envelope):
    type: Literal["hotline.risk.assessed.v1"] = "hotline.risk.assessed.v1"
    data: RiskAssessedData


class RiskEscalated(Envelope):
    type: Literal["hotline.risk.escalated.v1"] = "hotline.risk.escalated.v1"
    data: RiskEscalatedData


class RiskEmsConfirmed(Envelope):
    type: Literal["hotline.risk.ems-confirmed.v1"] = "hotline.risk.ems-confirmed.v1"
    data: RiskEmsConfirmedData


class SessionOpened(Envelope):
    type: Literal["hotline.session.opened.v1"] = "hotline.session.opened.v1"
    data: SessionOpenedData


class SessionClosed(Envelope):
    type: Literal["hotline.session.closed.v1"] = "hotline.session.closed.v1"
    data: SessionClosedData


class SessionDocumentationOverdue(Envelope):
    type: Literal["hotline.session.documentation-overdue.v1"] = (
        "hotline.session.documentation-overdue.v1"
    )
    data: DocumentationOverdueData


class PhiReadBurstData(Frozen):
    """A user went over the PHI-read limit (the read refused was of `contact_id`)."""

    contact_id: str
    user: str
    role: str
    service: str
    reads: int = Field(ge=1)
    limit: int = Field(ge=1)
    window_start: AwareDatetime
    window_seconds: float = Field(gt=0)


class BreakGlassData(Frozen):
    """A counselor opened another counselor's contact or session with a reason (the reason
    is in the audit log, not here)."""

    contact_id: str
    user: str
    service: str
    resource: str
    resource_id: str
    at: AwareDatetime


class BreakGlass(Envelope):
    type: Literal["hotline.security.break-glass.v1"] = "hotline.security.break-glass.v1"
    data: BreakGlassData


class PhiReadBurst(Envelope):
    type: Literal["hotline.security.phi-read-burst.v1"] = "hotline.security.phi-read-burst.v1"
    data: PhiReadBurstData


class LegalHoldData(Frozen):
    """A contact's records are (or are no longer) under legal hold: retention keeps them."""

    contact_id: str
    held: bool
    changed_by: str
    changed_at: AwareDatetime


class ContactLegalHoldChanged(Envelope):
    type: Literal["hotline.contact.legal-hold-changed.v1"] = "hotline.contact.legal-hold-changed.v1"
    data: LegalHoldData


class FollowupCaringReplyData(FollowupData):
    """A person answered a caring message with something other than STOP (the text is not
    carried: a worker reads the contact's record and calls back)."""

    received_at: AwareDatetime


class FollowupCaringReply(Envelope):
    type: Literal["hotline.followup.caring-reply-received.v1"] = (
        "hotline.followup.caring-reply-received.v1"
    )
    data: FollowupCaringReplyData


class FollowupScheduled(Envelope):
    type: Literal["hotline.followup.scheduled.v1"] = "hotline.followup.scheduled.v1"
    data: FollowupScheduledData


class FollowupDue(Envelope):
    type: Literal["hotline.followup.due.v1"] = "hotline.followup.due.v1"
    data: FollowupDueData


class FollowupAttempted(Envelope):
    type: Literal["hotline.followup.attempted.v1"] = "hotline.followup.attempted.v1"
    data: FollowupAttemptedData


class FollowupCompleted(Envelope):
    type: Literal["hotline.followup.completed.v1"] = "hotline.followup.completed.v1"
    data: FollowupCompletedData


class FollowupMissed(Envelope):
    type: Literal["hotline.followup.missed.v1"] = "hotline.followup.missed.v1"
    data: FollowupMissedData


class FollowupSlaAtRisk(Envelope):
    type: Literal["hotline.followup.sla-at-risk.v1"] = "hotline.followup.sla-at-risk.v1"
    data: FollowupSlaData


class FollowupSlaBreached(Envelope):
    type: Literal["hotline.followup.sla-breached.v1"] = "hotline.followup.sla-breached.v1"
    data: FollowupSlaData


EVENT_TYPES: dict[str, type[Envelope]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        ContactStarted, ContactQueued, ContactAnswered, ContactTransferred, ContactEnded,
        ContactAbandoned, ContactFailed, ContactCallbackNumberRecorded, RiskAssessed, RiskEscalated, RiskEmsConfirmed, SessionOpened,
        SessionClosed, SessionDocumentationOverdue, FollowupScheduled, FollowupDue,
        FollowupAttempted, FollowupCompleted, FollowupMissed, FollowupSlaAtRisk,
        FollowupSlaBreached, FollowupCaringReply, PhiReadBurst, ContactLegalHoldChanged,
        BreakGlass,
    )
}  # fmt: skip

_TOPIC_BY_PREFIX = {
    "hotline.contact.": CONTACTS_TOPIC,
    "hotline.risk.": RISK_TOPIC,
    "hotline.session.": SESSIONS_TOPIC,
    "hotline.followup.": FOLLOWUPS_TOPIC,
    "hotline.security.": SECURITY_TOPIC,
}
TOPIC_OF_TYPE: dict[str, str] = {
    name: next(t for prefix, t in _TOPIC_BY_PREFIX.items() if name.startswith(prefix))
    for name in EVENT_TYPES
}


# One union per topic: what a subscriber of that topic may receive (its handler's signature).
ContactEvent = Annotated[
    ContactStarted | ContactQueued | ContactAnswered | ContactTransferred | ContactEnded
    | ContactAbandoned | ContactFailed | ContactCallbackNumberRecorded | ContactLegalHoldChanged,
    Field(discriminator="type"),
]  # fmt: skip
RiskEvent = Annotated[RiskAssessed | RiskEscalated | RiskEmsConfirmed, Field(discriminator="type")]
SessionEvent = Annotated[
    SessionOpened | SessionClosed | SessionDocumentationOverdue, Field(discriminator="type")
]
FollowupEvent = Annotated[
    FollowupScheduled | FollowupDue | FollowupAttempted | FollowupCompleted | FollowupMissed
    | FollowupSlaAtRisk | FollowupSlaBreached | FollowupCaringReply,
    Field(discriminator="type"),
]  # fmt: skip
SecurityEvent = Annotated[BreakGlass | PhiReadBurst, Field(discriminator="type")]
TOPIC_UNIONS: dict[str, Any] = {
    CONTACTS_TOPIC: ContactEvent,
    RISK_TOPIC: RiskEvent,
    SESSIONS_TOPIC: SessionEvent,
    FOLLOWUPS_TOPIC: FollowupEvent,
    SECURITY_TOPIC: SecurityEvent,
}
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"  # the binding's structured mode


def types_in(union: Any) -> tuple[type[Envelope], ...]:
    """The event classes of a topic union (or a single event class)."""
    return tuple(t for t in _types_in(union) if isinstance(t, type) and issubclass(t, Envelope))


class UnknownEventType(ValueError):
    """A well-formed envelope of a type this version does not know (forward compatibility)."""


def parse_event(raw: bytes | str) -> Envelope:
    """Read bytes as one of the v1 events, as a tolerant reader: an attribute or data field
    this version does not know (a CloudEvents extension, a field a newer producer added) is
    left out, never an error; a known field of the wrong type, or a missing one, raises.
    Producers stay strict: the models forbid unknown fields when an event is made."""
    head = _HEAD.validate_json(raw)
    cls = EVENT_TYPES.get(head.type)
    if cls is None:
        raise UnknownEventType(head.type)
    return cls.model_validate(_known(cls, json.loads(raw)))


def _known(model: type[BaseModel], value: Any) -> Any:
    """`value` with only the keys `model` knows, through nested models, lists and tuples."""
    if not isinstance(value, dict):
        return value
    kept = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key in value:
            kept[key] = _known_in(field.annotation, value[key])
    return kept


def _known_in(annotation: Any, value: Any) -> Any:
    models = [t for t in _types_in(annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
    if isinstance(value, dict) and models:
        return _known(models[0], value)
    if isinstance(value, list) and models:
        return [_known(models[0], item) for item in value]
    return value


def _types_in(annotation: Any) -> list[Any]:
    args = get_args(annotation)
    return [annotation] if not args else [t for arg in args for t in _types_in(arg)]


class _Head(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str


_HEAD = TypeAdapter(_Head)


def new_event(
    cls: type[Envelope],
    *,
    data: Frozen,
    center_id: str,
    source: str,
    time: datetime,
    cause: tuple[str, ...],
) -> Envelope:
    """Build an event whose id is derived from its cause, so republishing is harmless; it
    carries the current trace context (when traced) so its consumers continue the trace."""
    type_name: str = cls.model_fields["type"].default
    contact_id: str = getattr(data, "contact_id")  # noqa: B009 - every payload carries it
    return cls(
        **trace_context(),
        id=event_id_for(type_name, *cause),
        source=source,
        type=type_name,
        subject=contact_id,
        time=time,
        centerid=center_id,
        correlationid=contact_id,
        data=data,
    )
