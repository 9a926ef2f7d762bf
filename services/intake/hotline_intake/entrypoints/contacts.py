"""Counselor-facing contact routes: read, screen, escalate, confirm EMS, release the number."""

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Query
from hotline_shared.auth import Principal, Role, TokenVerifier, bearer
from hotline_shared.events import EscalationReason, RiskLevel
from hotline_shared.intervals import Interval, checked_window
from hotline_shared.problems import API_PROBLEMS, BODY_PROBLEMS, Problem, problem_responses
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from hotline_intake import service_layer as svc
from hotline_intake.adapters.contacts import StoredContact
from hotline_intake.domain.triage import InvalidAnswers, OverrideNotAllowed
from hotline_intake.service_layer import Intake


class AnswersIn(BaseModel):
    """The C-SSRS Screener's items; an item not (yet) asked is left out. Which items a
    finished screen must answer follows the skip logic (checked in domain/triage.py)."""

    model_config = ConfigDict(extra="forbid")

    q1: StrictBool | None = None
    q2: StrictBool | None = None
    q3: StrictBool | None = None
    q4: StrictBool | None = None
    q5: StrictBool | None = None
    q6: StrictBool | None = None
    q6a: StrictBool | None = None


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: RiskLevel
    reason: str = Field(min_length=3, max_length=1000)


class ScreeningCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: AnswersIn
    override: OverrideIn | None = None
    followup_id: str | None = Field(
        default=None, max_length=200, description="a re-screen made during this follow-up call"
    )
    complete: StrictBool = Field(
        default=True,
        description="false keeps an interrupted screen (e.g. the caller hung up after Q2): "
        "stored incomplete, never triaged, resumed with PUT",
    )

    def given(self) -> svc.ScreeningInput:
        return svc.ScreeningInput(
            answers=self.answers.model_dump(), finished=self.complete,
            override=self.override.level if self.override else None,
            override_reason=self.override.reason if self.override else None,
            followup_id=self.followup_id,
        )  # fmt: skip


class CallbackNumber(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(pattern=r"^\+[1-9]\d{6,14}$", description="E.164, e.g. +15551234567")


class EmailAddress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class LegalHold(BaseModel):
    model_config = ConfigDict(extra="forbid")

    held: StrictBool
    reason: str = Field(min_length=3, max_length=500, description="the matter (case number)")


class EscalationAction(StrEnum):
    EMS_DISPATCHED = "ems-dispatched"
    POLICE_WELFARE_CHECK = "police-welfare-check"
    MOBILE_CRISIS_TEAM = "mobile-crisis-team"
    THIRD_PARTY_CONTACTED = "third-party-contacted"
    CALLER_AGREED_TO_ER = "caller-agreed-to-emergency-department"
    SUPERVISOR_CONSULTED = "supervisor-consulted"


class EscalationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: EscalationReason
    actions: list[EscalationAction] = Field(min_length=1, max_length=10)


class EmsConfirmationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reached: StrictBool


class ReleaseReason(StrEnum):
    CALLBACK = "callback"
    FOLLOW_UP = "follow-up"
    EMERGENCY_RESCUE = "emergency-rescue"
    CARING_CONTACT = "caring-contact"  # the follow-up service sending a caring message


# ---- what the routes answer (read models) ---------------------------------------------------


class ContactSummary(BaseModel):
    """A contact's metadata: no number, no risk."""

    id: str
    center_id: str
    channel: str
    status: str | None
    wait_seconds: float | None
    times: dict[str, str] = Field(description="milestone → ISO 8601 time (queued, answered, …)")


class ContactPage(BaseModel):
    items: list[ContactSummary]
    next_cursor: str | None = None


class RiskSummary(BaseModel):
    level: str | None
    assessed_at: str | None


class EarlierContact(ContactSummary):
    risk: RiskSummary | None = Field(description="the risk the contact ended at")


class EarlierContactPage(BaseModel):
    items: list[EarlierContact]
    next_cursor: str | None = None


class EmsConfirmation(BaseModel):
    reached: bool
    confirmed_by: str
    confirmed_at: str


class EscalationRead(BaseModel):
    id: str
    contact_id: str
    reason: str
    actions: list[str]
    escalated_by: str
    escalated_at: str
    ems: EmsConfirmation | None


class ContactRisk(BaseModel):
    level: str | None
    screening_id: str | None = None
    assessed_at: datetime | None = None


class ContactRead(BaseModel):
    id: str
    center_id: str
    provider: str
    channel: str
    status: str | None
    caller_reachable: bool
    times: dict[str, datetime]
    risk: ContactRisk | None
    wait_seconds: float | None
    escalations: list[EscalationRead]


class OverrideRead(BaseModel):
    level: str
    direction: str


class ScreeningRead(BaseModel):
    id: str
    contact_id: str
    status: str = Field(description="complete | incomplete")
    next_question: str | None = Field(description="where an incomplete screen resumes")
    level: str | None = Field(description="none | low | moderate | high; null while incomplete")
    computed_level: str | None
    rule_version: str
    override: OverrideRead | None
    assessed_by: str
    assessed_at: str | None


class CallerRelease(BaseModel):
    contact_id: str
    caller_number: str | None
    email: str | None


class OperationsKpis(BaseModel):
    center_id: str
    since: datetime
    until: datetime
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    failed: int
    transferred: int
    transferred_out_of_center: int
    transferred_within_center: int
    answer_rate: float | None
    abandonment_rate: float | None
    rollover_rate: float | None
    longest_wait_seconds: float | None
    average_speed_to_answer_seconds: float | None
    average_time_to_abandon_seconds: float | None
    service_level: float | None
    service_level_threshold_seconds: int
    average_handle_time_seconds: float | None


class IntervalKpis(BaseModel):
    start: datetime
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    answer_rate: float | None
    abandonment_rate: float | None
    average_speed_to_answer_seconds: float | None
    service_level: float | None


class KpiIntervals(BaseModel):
    center_id: str
    from_: datetime = Field(alias="from")
    to: datetime
    interval_seconds: float
    service_level_threshold_seconds: int
    intervals: list[IntervalKpis]
    risk_mix: dict[str, int] = Field(description="screens made in the window, by level")


class LiveBoard(BaseModel):
    center_id: str
    at: datetime
    waiting: int
    longest_waiting_seconds: float | None
    counselors_on_contacts: int
    today: OperationsKpis


def build_router(get_intake: Callable[[], Intake], verifier: TokenVerifier) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["contacts"], responses=API_PROBLEMS)
    Clinician = Annotated[Principal, Depends(bearer(verifier, Role.COUNSELOR, Role.SUPERVISOR))]
    Supervisor = Annotated[Principal, Depends(bearer(verifier, Role.SUPERVISOR, Role.ADMIN))]
    Releaser = Annotated[
        Principal, Depends(bearer(verifier, Role.COUNSELOR, Role.SUPERVISOR, Role.SERVICE))
    ]
    IdempotencyKey = Annotated[str | None, Header(max_length=200)]

    async def contact_for(contact_id: str, who: Principal) -> StoredContact:
        return await svc.contact_for(get_intake(), contact_id, who)

    @router.get("/contacts", response_model=ContactPage)
    async def list_mine(
        who: Clinician, center_id: Annotated[str, Query(min_length=1)]
    ) -> dict[str, Any]:
        """A counselor's contacts of the last 12 hours (a supervisor: the center's answered
        ones), newest first: channel, status, times and wait; no number, no risk."""
        who.require_center(center_id)
        docs = await svc.my_contacts(get_intake(), center_id=center_id, who=who)
        return {"items": [_summary(d) for d in docs], "next_cursor": None}

    @router.get("/contacts/{contact_id}/history", response_model=EarlierContactPage,
                responses=problem_responses(429))  # fmt: skip
    async def history(contact_id: str, who: Clinician) -> dict[str, Any]:
        """The same caller's earlier contacts in this center, with the risk each ended at."""
        contact = await contact_for(contact_id, who)
        await get_intake().phi_reads.check(who, center_id=contact.center_id, contact_id=contact_id,
                                           now=get_intake().clock.now())  # fmt: skip
        docs = await svc.caller_history(get_intake(), contact=contact, who=who)
        return {"items": [_summary(d) | {"risk": _risk_out(d.get("risk"))} for d in docs],
                "next_cursor": None}  # fmt: skip

    @router.get("/contacts/{contact_id}", response_model=ContactRead,
                responses=problem_responses(429))  # fmt: skip
    async def read_contact(contact_id: str, who: Clinician) -> dict[str, Any]:
        contact = await contact_for(contact_id, who)
        await get_intake().phi_reads.check(who, center_id=contact.center_id, contact_id=contact_id,
                                           now=get_intake().clock.now())  # fmt: skip
        await get_intake().audit.record(
            center_id=contact.center_id, action="contact.read", actor=who.sub, role=str(who.role),
            reason="treatment", at=get_intake().clock.now(), contact_id=contact_id,
        )  # fmt: skip
        doc = contact.doc
        return {
            "id": contact_id, "center_id": contact.center_id, "provider": doc["provider"],
            "channel": doc["channel"], "status": doc.get("status"),
            "caller_reachable": contact.caller.reachable, "times": doc.get("times", {}),
            "risk": doc.get("risk"), "wait_seconds": doc.get("wait_s"),
            "escalations": [_escalation_out(e) for e in await svc.escalations_of(get_intake(), contact_id)],
        }  # fmt: skip

    @router.post("/contacts/{contact_id}/screenings", status_code=201,
                 response_model=ScreeningRead, responses=BODY_PROBLEMS | problem_responses(409))  # fmt: skip
    async def create_screening(
        contact_id: str,
        body: ScreeningCreate,
        who: Clinician,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        contact = await contact_for(contact_id, who)
        with _screening_problems():
            doc = await svc.submit_screening(
                get_intake(), contact=contact, given=body.given(), actor=who.sub,
                is_supervisor=who.role is Role.SUPERVISOR, idempotency_key=idempotency_key,
            )  # fmt: skip
        return _screening_out(doc)

    @router.put("/contacts/{contact_id}/screenings/{screening_id}", response_model=ScreeningRead,
                responses=BODY_PROBLEMS | problem_responses(409))  # fmt: skip
    async def resume_screening(
        contact_id: str, screening_id: str, body: ScreeningCreate, who: Clinician
    ) -> dict[str, Any]:
        """Save more of an interrupted screen, or finish it."""
        contact = await contact_for(contact_id, who)
        with _screening_problems():
            doc = await svc.resume_screening(
                get_intake(), contact=contact, screening_id=screening_id, given=body.given(),
                actor=who.sub, is_supervisor=who.role is Role.SUPERVISOR,
            )  # fmt: skip
        return _screening_out(doc)

    @router.post("/contacts/{contact_id}/escalations", status_code=201,
                 response_model=EscalationRead, responses=BODY_PROBLEMS | problem_responses(409))  # fmt: skip
    async def create_escalation(
        contact_id: str,
        body: EscalationCreate,
        who: Clinician,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        contact = await contact_for(contact_id, who)
        doc = await svc.escalate(
            get_intake(), contact=contact, reason=body.reason,
            actions=[str(a) for a in body.actions], actor=who.sub, idempotency_key=idempotency_key,
        )  # fmt: skip
        return _escalation_out(doc)

    @router.post("/contacts/{contact_id}/escalations/{escalation_id}/ems-confirmation",
                 response_model=EscalationRead, responses=BODY_PROBLEMS | problem_responses(409))  # fmt: skip
    async def confirm_ems(
        contact_id: str, escalation_id: str, body: EmsConfirmationCreate, who: Clinician
    ) -> dict[str, Any]:
        contact = await contact_for(contact_id, who)
        doc = await svc.confirm_ems(
            get_intake(),
            contact=contact,
            escalation_id=escalation_id,
            reached=body.reached,
            actor=who.sub,
        )
        return _escalation_out(doc)

    @router.get("/contacts/{contact_id}/caller", response_model=CallerRelease,
                responses=problem_responses(429))  # fmt: skip
    async def read_caller(
        contact_id: str, who: Releaser, reason: Annotated[ReleaseReason, Query()]
    ) -> dict[str, Any]:
        """The caller's number and email, decrypted for a reason; every release is audited.
        The follow-up service reads it (reason caring-contact) to send a caring message."""
        if (who.role is Role.SERVICE) != (reason is ReleaseReason.CARING_CONTACT):
            raise Problem(
                403, "Forbidden", detail="reason not allowed for this role", field="reason"
            )
        contact = await contact_for(contact_id, who)
        await get_intake().phi_reads.check(who, center_id=contact.center_id, contact_id=contact_id,
                                           now=get_intake().clock.now())  # fmt: skip
        released = await svc.release_caller(
            get_intake(), contact=contact, actor=who.sub, role=str(who.role), reason=str(reason)
        )
        if released.number is None and released.email is None:
            raise Problem(404, "No caller number on record", detail="withheld or never given")
        return {"contact_id": contact_id, "caller_number": released.number, "email": released.email}

    @router.put("/contacts/{contact_id}/callback-number", status_code=204,
                responses=BODY_PROBLEMS)  # fmt: skip
    async def record_callback_number(contact_id: str, body: CallbackNumber, who: Clinician) -> None:
        """A number to call back, for a contact that arrived without one (chat, withheld
        caller id): stored encrypted, audited; a waiting callback starts."""
        contact = await contact_for(contact_id, who)
        await svc.record_callback_number(get_intake(), contact=contact, number=body.number,
                                         actor=who.sub, role=str(who.role))  # fmt: skip

    @router.put("/contacts/{contact_id}/email", status_code=204, responses=BODY_PROBLEMS)
    async def record_email(contact_id: str, body: EmailAddress, who: Clinician) -> None:
        """An email address the caller gave for caring contacts: stored encrypted, audited."""
        contact = await contact_for(contact_id, who)
        await svc.record_email(get_intake(), contact=contact, email=body.email, actor=who.sub,
                               role=str(who.role))  # fmt: skip

    @router.put("/contacts/{contact_id}/legal-hold", status_code=204, responses=BODY_PROBLEMS)
    async def legal_hold(contact_id: str, body: LegalHold, who: Supervisor) -> None:
        """Keep (or stop keeping) this contact's records past retention, in every service."""
        contact = await contact_for(contact_id, who)
        await svc.set_legal_hold(get_intake(), contact=contact, held=body.held, reason=body.reason,
                                 actor=who.sub, role=str(who.role))  # fmt: skip

    @router.get("/kpis/operations", response_model=OperationsKpis)
    async def kpis(
        who: Supervisor,
        center_id: Annotated[str, Query(min_length=1)],
        since: Annotated[AwareDatetime, Query()],
        until: Annotated[AwareDatetime, Query()],
    ) -> dict[str, Any]:
        who.require_center(center_id)
        if until <= since:
            raise Problem(422, "Empty window", detail="until must be after since", field="until")
        return await svc.operations_kpis(
            get_intake(), center_id=center_id, since=since, until=until
        )

    @router.get("/kpis/operations/intervals", response_model=KpiIntervals)
    async def kpi_intervals(
        who: Supervisor,
        center_id: Annotated[str, Query(min_length=1)],
        start: Annotated[AwareDatetime, Query(alias="from")],
        end: Annotated[AwareDatetime, Query(alias="to")],
        interval: Interval = Interval.MINUTES_15,
    ) -> dict[str, Any]:
        """Offered, answered, abandoned, answer rate, ASA and service level per interval
        (contacts by the time they queued), and the risk mix of the window's screens."""
        who.require_center(center_id)
        checked_window(start, end, interval.step)
        return await svc.kpi_intervals(get_intake(), center_id=center_id, start=start, end=end,
                                       step=interval.step)  # fmt: skip

    @router.get("/kpis/live", response_model=LiveBoard)
    async def live(
        who: Supervisor, center_id: Annotated[str, Query(min_length=1)]
    ) -> dict[str, Any]:
        """The operations board now: waiting, longest wait, counselors on contacts, and
        today's KPIs (since midnight in the center's time zone)."""
        who.require_center(center_id)
        center = get_intake().centers.get(center_id)
        zone = ZoneInfo(center.timezone if center else "UTC")
        local = get_intake().clock.now().astimezone(zone)
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return await svc.live_board(get_intake(), center_id=center_id, day_start=day_start)

    return router


@contextlib.contextmanager
def _screening_problems() -> Iterator[None]:
    try:
        yield
    except InvalidAnswers as exc:
        raise Problem(422, "Impossible answer set", detail=str(exc), field=exc.field) from exc
    except OverrideNotAllowed as exc:
        raise Problem(403, "Override not allowed", detail=str(exc), field="override.level") from exc
    except svc.ScreeningFinished as exc:
        raise Problem(409, "Screening is complete", detail="a new screen is a new screening",
                      field="screening_id") from exc  # fmt: skip
    except svc.IdempotencyKeyReused as exc:
        raise Problem(
            409, "Idempotency-Key reused", detail=str(exc), field="Idempotency-Key"
        ) from exc


def _screening_out(doc: dict[str, Any]) -> dict[str, Any]:
    override = doc.get("override")
    status = doc.get("status", "complete")
    return {
        "id": doc["_id"], "contact_id": doc["contact_id"], "status": status,
        "next_question": doc.get("next_question") if status == "incomplete" else None,
        "level": doc["level"], "computed_level": doc["computed_level"], "rule_version": doc["rule_version"],
        "override": {"level": override["level"], "direction": override["direction"]} if override else None,
        "assessed_by": doc["assessed_by"],
        "assessed_at": _iso(doc["assessed_at"]) if doc.get("assessed_at") else None,
    }  # fmt: skip


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    times = doc.get("times", {})
    return {
        "id": doc["_id"], "center_id": doc["center_id"], "channel": doc["channel"],
        "status": doc.get("status"), "wait_seconds": doc.get("wait_s"),
        "times": {k: _iso(v) for k, v in times.items()},
    }  # fmt: skip


def _risk_out(risk: dict[str, Any] | None) -> dict[str, Any] | None:
    if not risk:
        return None
    at = risk.get("assessed_at")
    return {"level": risk.get("level"), "assessed_at": _iso(at) if isinstance(at, datetime) else at}


def _escalation_out(doc: dict[str, Any]) -> dict[str, Any]:
    ems = doc.get("ems")
    return {
        "id": doc["_id"], "contact_id": doc["contact_id"], "reason": doc["reason"],
        "actions": doc["actions"], "escalated_by": doc["escalated_by"],
        "escalated_at": _iso(doc["escalated_at"]),
        "ems": {"reached": ems["reached"], "confirmed_by": ems["confirmed_by"],
                "confirmed_at": _iso(ems["confirmed_at"])} if ems else None,
    }  # fmt: skip


def _iso(value: datetime) -> str:
    return value.isoformat()
