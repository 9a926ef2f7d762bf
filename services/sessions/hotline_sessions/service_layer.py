"""Sessions' use cases: open on answer, autosave versions, close, addenda, overdue."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from hotline_shared.assignment import Access, access, break_glass, not_assigned
from hotline_shared.audit import AuditLog
from hotline_shared.auth import Principal, Role
from hotline_shared.clock import Clock
from hotline_shared.crypto import KeyRing
from hotline_shared.events import (
    ContactAnswered,
    ContactEnded,
    ContactLegalHoldChanged,
    DocumentationOverdueData,
    Envelope,
    RiskAssessed,
    RiskEscalated,
    RiskLevel,
    SessionClosed,
    SessionClosedData,
    SessionDocumentationOverdue,
    SessionOpened,
    SessionOpenedData,
    new_event,
    parse_event,
)  # fmt: skip
from hotline_shared.ids import derive_id
from hotline_shared.kafka import EventBus
from hotline_shared.mongo import Document, EventLog, Outbox, retry_on_conflict
from hotline_shared.problems import Problem
from hotline_shared.ratelimit import PhiReadLimit
from hotline_shared.retention import LegalHolds, Rule
from pydantic import BaseModel
from pymongo.asynchronous.database import AsyncDatabase

from hotline_sessions.adapters.risk_feed import RiskFactsLag, RiskFeed
from hotline_sessions.adapters.store import ContactFacts, SessionStore
from hotline_sessions.domain.quality import Rubric, sample, week_bounds
from hotline_sessions.domain.session import (
    CaringChannel,
    Disposition,
    Overdue,
    ReasonRequired,
    RiskAtClose,
    RiskLowered,
    Status,
    VersionConflict,
    can_add_addendum,
    check_write,
    default_disposition,
    overdue_after_ended,
    overdue_at,
    overdue_decision,
    risk_at_close,
    sign_addendum,
    supersedes,
)  # fmt: skip
from hotline_sessions.domain.session import (
    SessionClosed as SessionIsClosed,
)

SOURCE = "hotline/sessions"
KINDS = ("notes", "safety-plan")


@dataclass
class Sessions:
    db: AsyncDatabase[Document]
    bus: EventBus
    keyring: KeyRing
    clock: Clock
    overdue_window: timedelta
    signing_key: bytes
    risk_feed: RiskFeed
    audit_log: AuditLog
    phi_reads: PhiReadLimit
    risk_wait: float = 10.0  # seconds a close waits for the contact's risk facts

    @property
    def store(self) -> SessionStore:
        return SessionStore(self.db)

    @property
    def facts(self) -> ContactFacts:
        return ContactFacts(self.db)

    def outbox(self, collection: str) -> Outbox:
        return Outbox(self.db[collection], self.bus.publish)

    @property
    def events(self) -> EventLog:
        return EventLog(self.db, self.bus.publish)


def session_id_for(contact_id: str, leg: int) -> str:
    return derive_id("session", contact_id, str(leg))


def signing_key(master_key: bytes) -> bytes:
    return hmac.new(master_key, b"hotline-sessions-addendum-signing", hashlib.sha256).digest()


# ---- consumers -----------------------------------------------------------------------------


async def on_contact_event(s: Sessions, event: Envelope) -> None:
    if isinstance(event, ContactAnswered):
        await open_session(s, event)
    elif isinstance(event, ContactEnded):
        await track_ended(s, event)
    elif isinstance(event, ContactLegalHoldChanged):
        await LegalHolds(s.db).change(contact_id=event.data.contact_id, center_id=event.centerid,
                                      held=event.data.held, at=event.data.changed_at)  # fmt: skip


async def on_risk_event(s: Sessions, event: Envelope) -> None:
    if isinstance(event, RiskAssessed):
        await record_fact(s, event.data.contact_id, "risk_at", event.data.assessed_at,
                          {"risk_level": str(event.data.level)})  # fmt: skip
    elif isinstance(event, RiskEscalated):
        await record_fact(s, event.data.contact_id, "escalated_at", event.data.escalated_at,
                          {"escalated": True})  # fmt: skip


async def record_fact(
    s: Sessions, contact_id: str, key: str, at: datetime, fields: Document
) -> None:
    """The newest fact wins, whatever order the events are replayed in."""

    async def attempt() -> bool | None:
        current = await s.facts.get(contact_id)
        if current is not None and not supersedes(current.get(key), at):
            return False
        return True if await s.facts.write(current, contact_id, {**fields, key: at}) else None

    await retry_on_conflict(attempt, what="contact facts")


async def open_session(s: Sessions, event: ContactAnswered) -> None:
    """One session per contact and counselor leg, however often the event is delivered."""
    data, now = event.data, s.clock.now()
    session_id = session_id_for(data.contact_id, data.leg)
    previous = session_id_for(data.contact_id, data.leg - 1) if data.leg > 1 else None
    opened = SessionOpenedData(contact_id=data.contact_id, session_id=session_id, leg=data.leg,
                               counselor_id=data.counselor_id, previous_session_id=previous,
                               opened_at=data.occurred_at)  # fmt: skip
    out = new_event(SessionOpened, data=opened, center_id=event.centerid, source=SOURCE, time=now,
                    cause=(session_id,))  # fmt: skip
    doc = {
        "_id": session_id, "contact_id": data.contact_id, "center_id": event.centerid,
        "leg": data.leg, "previous_session_id": previous, "counselor_id": data.counselor_id,
        "caller_token": data.caller_token, "status": str(Status.OPEN), "opened_at": data.occurred_at,
        "versions": {kind: 0 for kind in KINDS}, "heads": {}, "addenda": [], "close": None,
    }  # fmt: skip
    await s.store.open(doc, out, now=now)  # delivered again: opened already
    await s.outbox("sessions").flush(session_id)


async def track_ended(s: Sessions, event: ContactEnded) -> None:
    ended, contact_id = event.data.occurred_at, event.data.contact_id

    async def attempt() -> bool | None:
        current = await s.facts.get(contact_id)
        state = overdue_after_ended(
            Overdue(current["overdue"]) if current and current.get("overdue") else None
        )
        fields = {"center_id": event.centerid, "ended_at": ended, "overdue": str(state),
                  "overdue_at": overdue_at(ended, s.overdue_window)}  # fmt: skip
        return True if await s.facts.write(current, contact_id, fields) else None

    await retry_on_conflict(attempt, what="contact facts")


async def fire_overdue(s: Sessions) -> int:
    """Periodic, on every replica: each overdue contact fires once (emit-once by event id,
    and the state change is a conditional write: a racing replica's is refused)."""
    now, fired = s.clock.now(), 0
    for contact in await s.facts.overdue_due(now):
        open_sessions = await s.store.open_count(contact["_id"])
        decision = overdue_decision(ended_at=contact["ended_at"], open_sessions=open_sessions,
                                    now=now, window=s.overdue_window)  # fmt: skip
        if decision is None:
            continue
        session_id = await s.store.first_open(contact["_id"])
        if session_id is None:
            decision = Overdue.NOT_NEEDED  # closed since it was counted
        if decision is Overdue.FIRED and session_id is not None:
            data = DocumentationOverdueData(contact_id=contact["_id"], session_id=session_id,
                                            ended_at=contact["ended_at"], overdue_at=now)  # fmt: skip
            event = new_event(SessionDocumentationOverdue, data=data, center_id=contact["center_id"],
                              source=SOURCE, time=now, cause=(contact["_id"],))  # fmt: skip
            if await s.events.emit(event):  # the claim: one replica wins, once
                fired += 1
        await s.facts.write(
            contact, contact["_id"], {"overdue": str(decision), "overdue_checked_at": now}
        )
    return fired


# ---- documentation -------------------------------------------------------------------------


def _access(who: Principal, doc: Document) -> Access:
    owners = [doc["counselor_id"]] if doc.get("counselor_id") else []
    return access(who, owners=owners, assigned=doc.get("assigned_to", []))


def may_work_on(who: Principal, doc: Document) -> bool:
    """Whether a listing shows `who` this session (another counselor's is left out)."""
    return who.can_access(doc["center_id"]) and _access(who, doc) is not Access.REFUSED


async def session_for(s: Sessions, session_id: str, who: Principal) -> Document:
    """The session, if `who` may work on it: their own leg (or one they take, when nobody
    answered it by name), or with a supervisor's role, or breaking the glass with a reason."""

    async def attempt() -> Document | None:
        doc = await s.store.get(session_id)
        if doc is None:
            raise unknown_session()
        who.require_center(doc["center_id"], unknown_session)
        decision = _access(who, doc)
        if decision is Access.REFUSED:
            raise not_assigned("session_id")
        if decision is Access.TAKE:
            if not await s.store.take(doc, who.sub):
                return None  # someone else wrote (maybe took it) meanwhile: decide again
            await audit(s, who, doc, "session.take")
            return await s.store.get(session_id)
        if decision is Access.BREAK_GLASS:
            await break_glass(s.audit_log, s.events, who, center_id=doc["center_id"],
                              contact_id=doc["contact_id"], resource="session", resource_id=session_id,
                              service="sessions", now=s.clock.now())  # fmt: skip
        return doc

    return await retry_on_conflict(attempt, what="session")


# What retention deletes here, and when (hotline_shared.retention; the center's periods).
RETENTION_RULES = (
    Rule("sessions", "opened_at", "clinical", children=(("versions", "session_id"),)),
    Rule("contacts", "ended_at", "clinical", contact_field="_id"),
    Rule(EventLog.CLAIMS, "at", "operational", contact_field=None, center_field=None),
    Rule("phi_read_counts", "window_start", "operational", contact_field=None, center_field=None),
)


def unknown_session() -> Problem:
    return Problem(404, "Unknown session", field="session_id")


async def audit(s: Sessions, who: Principal, doc: Document, action: str, **extra: Any) -> None:
    reason = str(extra.pop("reason", "documentation"))
    await s.audit_log.record(center_id=doc["center_id"], action=action, actor=who.sub,
                             role=str(who.role), reason=reason, at=s.clock.now(),
                             session_id=doc["_id"], **extra)  # fmt: skip


async def save_version(
    s: Sessions, *, session_id: str, kind: str, base: int, content: BaseModel, who: Principal
) -> int:
    """Autosave: exactly one write per version wins; every accepted version is kept.
    The session document's conditional write decides (open, and still at `base`)."""
    doc = await session_for(s, session_id, who)
    version = _next_version(doc, kind, base)
    ciphertext = s.keyring.encrypt(f"center:{doc['center_id']}", content.model_dump_json(),
                                   context=f"session:{session_id}:{kind}:{version}")  # fmt: skip
    head = {"version": version, "ciphertext": ciphertext, "author": who.sub, "at": s.clock.now()}
    if not await s.store.accept_version(session_id, kind, base=base, head=head):
        fresh = await session_for(s, session_id, who)
        _next_version(fresh, kind, base)  # raises: closed meanwhile, or another save won
        raise _stale(version)
    # the version is accepted: its history entry and its audit entry are independent writes
    # (both run to their end; the first failure is the answer)
    for outcome in await asyncio.gather(
        s.store.keep_version(session_id, kind, head),
        audit(s, who, doc, f"{kind}.write", version=version),
        return_exceptions=True,
    ):
        if isinstance(outcome, BaseException):
            raise outcome
    return version


def _next_version(doc: Document, kind: str, base: int) -> int:
    current = (doc.get("versions") or {}).get(kind, 0)
    try:
        return check_write(status=Status(doc["status"]), current=current, base=base)
    except SessionIsClosed as exc:
        raise Problem(409, "Session is closed", detail=str(exc), field="session_id") from exc
    except VersionConflict as exc:
        raise _stale(exc.current) from exc


def _stale(current: int) -> Problem:
    return Problem(409, "Stale version", detail=f"current version is {current}", field="If-Match",
                   extra={"current_version": current}, headers={"ETag": f'"{current}"'})  # fmt: skip


def read_version(s: Sessions, session_id: str, kind: str, version_doc: Document | None) -> Any:
    if version_doc is None:
        return None
    return json.loads(s.keyring.decrypt(version_doc["ciphertext"],
                                        context=f"session:{session_id}:{kind}:{version_doc['version']}"))  # fmt: skip


async def read_session(s: Sessions, session_id: str, who: Principal) -> Document:
    doc = await session_for(s, session_id, who)
    await s.phi_reads.check(who, center_id=doc["center_id"], contact_id=doc["contact_id"],
                            now=s.clock.now())  # fmt: skip
    heads = doc.get("heads") or {}
    notes, plan = heads.get("notes"), heads.get("safety-plan")
    await audit(s, who, doc, "session.read")
    return {
        "id": doc["_id"], "contact_id": doc["contact_id"], "center_id": doc["center_id"],
        "leg": doc["leg"], "previous_session_id": doc.get("previous_session_id"),
        "status": doc["status"], "version": notes["version"] if notes else 0,
        "notes": read_version(s, session_id, "notes", notes),
        "safety_plan_version": plan["version"] if plan else 0,
        "safety_plan": read_version(s, session_id, "safety-plan", plan),
        "close": close_out(doc.get("close")),
        "review": review_out(s, session_id, doc.get("review")),
        "addenda": [{k: a[k] for k in ("author", "at", "text_sha256", "signature")} for a in doc.get("addenda", [])],
    }  # fmt: skip


async def last_safety_plan(s: Sessions, session_id: str, who: Principal) -> Document:
    """The safety plan of the caller's most recent earlier session in this center (the one
    to review with them now), or none; audited as a read of that session."""
    doc = await session_for(s, session_id, who)
    token = doc.get("caller_token")
    earlier = await s.store.of_caller(doc["center_id"], token) if token else []
    opened = doc.get("opened_at")
    for previous in earlier:
        plan = (previous.get("heads") or {}).get("safety-plan")
        later = (
            opened is not None
            and previous.get("opened_at") is not None
            and previous["opened_at"] >= opened
        )
        if previous["_id"] == session_id or plan is None or later:
            continue
        await s.phi_reads.check(who, center_id=doc["center_id"], contact_id=doc["contact_id"],
                                now=s.clock.now())  # fmt: skip
        await audit(s, who, previous, "safety-plan.read-previous", reason="treatment",
                    for_session_id=session_id)  # fmt: skip
        return {"session_id": previous["_id"], "contact_id": previous["contact_id"],
                "opened_at": previous.get("opened_at"), "version": plan["version"],
                "safety_plan": read_version(s, previous["_id"], "safety-plan", plan)}  # fmt: skip
    return {"session_id": None, "safety_plan": None}


async def list_versions(s: Sessions, session_id: str, kind: str, who: Principal) -> list[Document]:
    doc = await session_for(s, session_id, who)
    await s.phi_reads.check(who, center_id=doc["center_id"], contact_id=doc["contact_id"],
                            now=s.clock.now())  # fmt: skip
    await audit(s, who, doc, f"{kind}.read-history")
    return [{"version": v["version"], "author": v["author"], "at": v["at"],
             "content": read_version(s, session_id, kind, v)}
            for v in await s.store.history(doc, kind)]  # fmt: skip


def close_out(close: Document | None) -> Document | None:
    return {k: v for k, v in close.items() if k not in ("event", "risk_reason")} if close else None


# ---- closing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CloseRequest:
    disposition: Disposition | None
    risk_level: RiskLevel | None
    escalated: bool | None
    followup_consent: bool
    caring_contacts_consent: bool
    caring_contacts_channel: CaringChannel | None
    risk_reason: str | None = None


async def close_session(
    s: Sessions, session_id: str, req: CloseRequest, who: Principal
) -> Document:
    first = await session_for(s, session_id, who)
    if first["status"] != Status.CLOSED:
        await _risk_facts_current(s, first["contact_id"])

    async def attempt() -> Document | None:
        doc = await session_for(s, session_id, who)
        if doc["status"] == Status.CLOSED:
            return doc  # closing twice: the first close stands
        close = await _close_record(s, doc, req, who)
        return (
            await s.store.get(session_id)
            if await s.store.close(doc, close, now=s.clock.now())
            else None
        )

    closed = await retry_on_conflict(attempt, what="session")
    await emit_closed(s, closed)
    await audit(s, who, closed, "session.close")
    return closed


async def _risk_facts_current(s: Sessions, contact_id: str) -> None:
    """A close must not miss a screening or escalation still on its way (see RiskFeed)."""
    try:
        await s.risk_feed.wait_caught_up(contact_id, timeout=s.risk_wait)
    except RiskFactsLag as exc:
        raise Problem(503, "The contact's latest risk is not known yet; retry",
                      detail=str(exc), headers={"Retry-After": "2"}) from exc  # fmt: skip


def _risk(facts: Document, req: CloseRequest, who: Principal) -> RiskAtClose:
    latest = RiskLevel(facts["risk_level"]) if facts.get("risk_level") else None
    try:
        return risk_at_close(given=req.risk_level, given_escalated=req.escalated, latest=latest,
                             latest_escalated=bool(facts.get("escalated")),
                             by_supervisor=who.role in (Role.SUPERVISOR, Role.ADMIN),
                             reason=req.risk_reason)  # fmt: skip
    except RiskLowered as exc:
        raise Problem(403, "Lowering the risk at close needs a supervisor", detail=str(exc),
                      field=exc.field) from exc  # fmt: skip
    except ReasonRequired as exc:
        raise Problem(422, "Reason required", detail=str(exc), field="risk_reason") from exc


async def _close_record(s: Sessions, doc: Document, req: CloseRequest, who: Principal) -> Document:
    facts = await s.facts.get(doc["contact_id"]) or {}
    risk = _risk(facts, req, who)
    has_plan = (doc.get("versions") or {}).get("safety-plan", 0) > 0
    disposition = req.disposition or default_disposition(
        escalated=risk.escalated, has_safety_plan=has_plan
    )
    now = s.clock.now()
    data = SessionClosedData(
        contact_id=doc["contact_id"], session_id=doc["_id"], disposition=str(disposition),
        risk_level=risk.level, escalated=risk.escalated, followup_consent=req.followup_consent,
        caring_contacts_consent=req.caring_contacts_consent,
        caring_contacts_channel=str(req.caring_contacts_channel) if req.caring_contacts_channel else None,
        caller_token=doc.get("caller_token"), closed_by=who.sub, closed_at=now,
    )  # fmt: skip
    event = new_event(SessionClosed, data=data, center_id=doc["center_id"], source=SOURCE, time=now,
                      cause=(doc["_id"], "closed"))  # fmt: skip
    close = {**asdict(req), "disposition": str(disposition), "risk_level": str(risk.level),
             "escalated": risk.escalated, "closed_by": who.sub, "closed_at": now,
             "risk_lowered": risk.lowered, "risk_reason": _sealed_reason(s, doc, req.risk_reason)}  # fmt: skip
    close = {k: (str(v) if hasattr(v, "value") else v) for k, v in close.items()}
    close["event"] = event.model_dump_json()
    return close


def _sealed_reason(s: Sessions, doc: Document, reason: str | None) -> str | None:
    """Free text may hold PHI: encrypted at rest like notes."""
    if not reason:
        return None
    return s.keyring.encrypt(f"center:{doc['center_id']}", reason,
                             context=f"session:{doc['_id']}:risk-reason")  # fmt: skip


async def emit_closed(s: Sessions, doc: Document) -> None:
    """The closing record carries its event: re-emitting is a no-op once it went out, and
    a crash between closing and publishing is mended by `mend_closed` (periodic)."""
    await s.events.emit(parse_event(doc["close"]["event"]))
    await s.store.close_emitted(doc["_id"])


async def mend_closed(s: Sessions, *, grace: timedelta = timedelta(seconds=10)) -> int:
    """Periodic: publish session.closed for any session closed without it (after a crash),
    found by its pending marker."""
    pending = await s.store.closes_pending(before=s.clock.now() - grace)
    for doc in pending:
        await emit_closed(s, doc)
    return len(pending)


async def add_addendum(s: Sessions, session_id: str, text: str, who: Principal) -> Document:
    async def attempt() -> Document | None:
        doc = await session_for(s, session_id, who)
        if not can_add_addendum(Status(doc["status"])):
            raise Problem(409, "Session is open", detail="edit the notes; addenda amend closed records",
                          field="session_id")  # fmt: skip
        now = s.clock.now()
        signed = sign_addendum(
            s.signing_key, session_id=session_id, author=who.sub, at=now, text=text
        )
        ciphertext = s.keyring.encrypt(f"center:{doc['center_id']}", text,
                                       context=f"session:{session_id}:addendum:{signed.signature}")  # fmt: skip
        entry = {**asdict(signed), "ciphertext": ciphertext}
        return entry if await s.store.add_addendum(doc, entry) else None

    entry = await retry_on_conflict(attempt, what="session")
    doc = await session_for(s, session_id, who)
    await audit(s, who, doc, "addendum.write")
    return {k: entry[k] for k in ("author", "at", "text_sha256", "signature")}


# ---- quality assurance -----------------------------------------------------------------------


async def qa_sample(s: Sessions, *, center_id: str, week: str, size: int) -> list[Document]:
    """The week's sample: up to `size` closed sessions per counselor, the same for everyone
    who asks (seeded by center and week)."""
    start, end = week_bounds(week)
    closed = await s.store.closed_between(center_id, start, end)
    by_id = {d["_id"]: d for d in closed}
    pairs = [(d.get("counselor_id") or d["close"].get("closed_by", "?"), d["_id"]) for d in closed]
    drawn = sample(pairs, size=size, seed=f"{center_id}:{week}")
    return [
        {"counselor": counselor, "session_id": sid, "contact_id": by_id[sid]["contact_id"],
         "closed_at": by_id[sid]["close"].get("closed_at"),
         "disposition": by_id[sid]["close"].get("disposition"),
         "reviewed": bool(by_id[sid].get("review"))}
        for counselor, ids in drawn.items() for sid in ids
    ]  # fmt: skip


async def review_session(s: Sessions, session_id: str, rubric: Rubric, comments: str,
                         who: Principal) -> Document:  # fmt: skip
    """A supervisor's review (scores per step, comments encrypted); the counselor sees it
    with the session; audited."""
    doc = await session_for(s, session_id, who)
    if doc["status"] != str(Status.CLOSED):
        raise Problem(409, "Session is open", detail="review a closed session", field="session_id")
    now = s.clock.now()
    sealed = s.keyring.encrypt(f"center:{doc['center_id']}", comments,
                               context=f"session:{session_id}:review")  # fmt: skip
    review = {"scores": rubric.model_dump(), "comments": sealed, "by": who.sub, "at": now}
    await s.store.set_review(session_id, review)
    await audit(s, who, doc, "session.review", reason="quality-assurance")
    return {"scores": review["scores"], "comments": comments, "by": who.sub, "at": now}


def review_out(s: Sessions, session_id: str, review: Document | None) -> Document | None:
    if not review:
        return None
    comments = s.keyring.decrypt(review["comments"], context=f"session:{session_id}:review")
    return {
        "scores": review["scores"],
        "comments": comments,
        "by": review["by"],
        "at": review["at"],
    }
