"""Intake's use cases: small verb functions between entrypoints and domain/adapters."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hotline_shared.assignment import Access, access, break_glass, not_assigned
from hotline_shared.audit import AuditLog
from hotline_shared.auth import Principal, Role
from hotline_shared.centers import Center, Centers
from hotline_shared.clock import Clock
from hotline_shared.crypto import KeyRing, caller_token
from hotline_shared.events import (
    ContactAbandoned,
    ContactAbandonedData,
    ContactAnswered,
    ContactAnsweredData,
    ContactCallbackNumberRecorded,
    ContactData,
    ContactEnded,
    ContactEndedData,
    ContactFailed,
    ContactFailedData,
    ContactLegalHoldChanged,
    ContactQueued,
    ContactQueuedData,
    ContactStarted,
    ContactTransferred,
    ContactTransferredData,
    Envelope,
    EscalationReason,
    LegalHoldData,
    RiskAssessed,
    RiskAssessedData,
    RiskEmsConfirmed,
    RiskEmsConfirmedData,
    RiskEscalated,
    RiskEscalatedData,
    RiskLevel,
    RiskOverride,
    new_event,
)  # fmt: skip
from hotline_shared.ids import contact_id_for, derive_id
from hotline_shared.kafka import EventBus
from hotline_shared.mongo import Document, EventLog, Flusher, Outbox, retry_on_conflict
from hotline_shared.problems import Problem
from hotline_shared.ratelimit import PhiReadLimit
from hotline_shared.retention import LegalHolds, Rule
from pymongo.asynchronous.database import AsyncDatabase

from hotline_intake.adapters.contacts import Caller, ContactStore, StoredContact
from hotline_intake.adapters.records import RecordStore
from hotline_intake.domain.contact import (
    ContactState,
    Milestone,
    Observation,
    abandoned_at,
    is_short_abandon,
    new_contact,
    observe,
    settle,
)  # fmt: skip
from hotline_intake.domain.facts import ems_confirmation_accepted, newest_wins
from hotline_intake.domain.kpis import Queued, interval_kpis, ratio
from hotline_intake.domain.triage import (
    RULE_VERSION,
    PartialAnswers,
    apply_override,
    complete,
    next_question,
    triage,
)

SOURCE = "hotline/intake"
DEFAULT_SHORT_ABANDON_SECONDS = 5.0


@dataclass
class Intake:
    db: AsyncDatabase[Document]
    bus: EventBus
    centers: Centers
    keyring: KeyRing
    clock: Clock
    settle_after: timedelta
    service_level_seconds: int
    audit: AuditLog
    phi_reads: PhiReadLimit
    flusher: Flusher = field(default_factory=Flusher)

    @property
    def contacts(self) -> ContactStore:
        return ContactStore(self.db["contacts"])

    @property
    def screenings(self) -> RecordStore:
        return RecordStore(self.db["screenings"])

    @property
    def escalations(self) -> RecordStore:
        return RecordStore(self.db["escalations"])

    def outbox(self, collection: str) -> Outbox:
        return Outbox(self.db[collection], self.bus.publish)

    @property
    def events(self) -> EventLog:
        """Events emitted once whoever emits them (not tied to one record's outbox)."""
        return EventLog(self.db, self.bus.publish)


# ---- contacts ------------------------------------------------------------------------------


async def record_observation(intake: Intake, center: Center, obs: Observation) -> list[Milestone]:
    """Apply one provider event to its contact; publish what it caused. Idempotent."""
    contact_id = contact_id_for(center.id, str(obs.provider), obs.provider_contact_id)

    async def attempt() -> tuple[list[Milestone], Document | None] | None:
        stored = await intake.contacts.get(contact_id)
        state = stored.state if stored else new_contact(contact_id, obs)
        now = intake.clock.now()
        new_state, emit = observe(state, obs, now=now, settle_after=intake.settle_after)
        if stored is not None and new_state == state:
            return [], None  # a provider retry: recorded already (the flush mends a lost publish)
        caller = _caller(intake, center, contact_id, obs, stored.caller if stored else None)
        short = center.short_abandon_seconds
        events = [_contact_event(center.id, new_state, m, caller, now, short) for m in emit]
        saved = await intake.contacts.save(
            new_state, center_id=center.id, expected_version=stored.version if stored else None,
            caller=caller, events=events, now=now, settle_after=intake.settle_after,
            short_abandon_seconds=short,
        )  # fmt: skip
        return (emit, saved) if saved is not None else None

    ticket = intake.flusher.ticket()
    emitted, written = await retry_on_conflict(attempt, what="contact")
    # State and events are durable: the provider's answer need not wait for Kafka. The
    # write returned its outbox, so the flush publishes without reading it again (unless a
    # flush of this contact finished since the ticket).
    intake.flusher.flush_later(intake.outbox("contacts"), contact_id, written, since=ticket)
    return emitted


async def settle_due(intake: Intake) -> int:
    """Periodic, on every replica: emit what waited for an outcome (e.g. `ended` after the
    settle window). Replicas racing on one contact: one conditional write wins."""
    count = 0
    for contact_id in await intake.contacts.unsettled(intake.clock.now()):
        count += await _settle_one(intake, contact_id)
    return count


async def _settle_one(intake: Intake, contact_id: str) -> int:
    stored = await intake.contacts.get(contact_id)
    if stored is None:
        return 0
    now = intake.clock.now()
    new_state, emit = settle(stored.state, now=now, settle_after=intake.settle_after)
    center = intake.centers.get(stored.center_id)
    short = center.short_abandon_seconds if center else DEFAULT_SHORT_ABANDON_SECONDS
    events = [
        _contact_event(stored.center_id, new_state, m, stored.caller, now, short) for m in emit
    ]
    ticket = intake.flusher.ticket()
    written = await intake.contacts.save(
        new_state, center_id=stored.center_id, expected_version=stored.version,
        caller=stored.caller, events=events, now=now, settle_after=intake.settle_after,
        short_abandon_seconds=short,
    )  # fmt: skip
    if written is None:
        return 0  # changed meanwhile (another replica, a webhook): the next round settles it
    # Through the flusher, as a webhook's flush (one at a time per contact): published
    # soon after this returns, or by the relay.
    intake.flusher.flush_later(intake.outbox("contacts"), contact_id, written, since=ticket)
    return len(emit)


def _caller(
    intake: Intake, center: Center, contact_id: str, obs: Observation, known: Caller | None
) -> Caller:
    if known is not None and (known.token or known.reachable):
        return known
    number = obs.caller_number
    if not number:
        return known or Caller(token=None, number_ciphertext=None, reachable=False)
    pepper = center.caller_token_pepper.get_secret_value().encode()
    ciphertext = intake.keyring.encrypt(
        f"center:{center.id}", number, context=f"contact:{contact_id}:caller"
    )
    return Caller(token=caller_token(pepper, number), number_ciphertext=ciphertext, reachable=True)


def _contact_event(
    center_id: str, state: ContactState, milestone: Milestone, caller: Caller, now: datetime,
    short_abandon_seconds: float,
) -> Envelope:  # fmt: skip
    times = state.times
    occurred = abandoned_at(state) if milestone is Milestone.ABANDONED else times[milestone]
    common: dict[str, Any] = {
        "contact_id": state.contact_id, "provider": state.provider,
        "provider_contact_id": state.provider_contact_id, "channel": state.channel,
        "occurred_at": occurred, "caller_token": caller.token, "caller_reachable": caller.reachable,
    }  # fmt: skip
    queued, answered = times.get(Milestone.QUEUED), times.get(Milestone.ANSWERED)
    cls: type[Envelope]
    data: ContactData
    match milestone:
        case Milestone.STARTED:
            cls, data = ContactStarted, ContactData(**common)
        case Milestone.QUEUED:
            cls, data = ContactQueued, ContactQueuedData(**common)
        case Milestone.ANSWERED:
            cls = ContactAnswered
            data = ContactAnsweredData(**common, queued_at=queued, counselor_id=state.counselor_id)
        case Milestone.TRANSFERRED:
            cls = ContactTransferred
            data = ContactTransferredData(**common, to_center_id=state.to_center_id)
        case Milestone.ENDED:
            cls, data = ContactEnded, ContactEndedData(**common, answered_at=answered)
        case Milestone.ABANDONED:
            short = is_short_abandon(state, short_abandon_seconds)
            cls, data = (
                ContactAbandoned,
                ContactAbandonedData(**common, queued_at=queued, short=short),
            )
        case Milestone.FAILED:
            cls = ContactFailed
            data = ContactFailedData(**common, reason=state.failure or "unknown")
    return new_event(cls, data=data, center_id=center_id, source=SOURCE, time=now,
                     cause=(state.contact_id,))  # fmt: skip


async def contact_or_404(intake: Intake, contact_id: str) -> StoredContact:
    stored = await intake.contacts.get(contact_id)
    if stored is None:
        raise unknown_contact()
    return stored


async def contact_for(intake: Intake, contact_id: str, who: Principal) -> StoredContact:
    """The contact, if `who` may work on it: one they answered (any leg, by user or agent id)
    or took (nobody answered it by name), or with a supervisor's role, or breaking the glass
    with a reason (audited; a supervisor is alerted)."""

    async def attempt() -> StoredContact | None:
        contact = await contact_or_404(intake, contact_id)
        who.require_center(contact.center_id, unknown_contact)
        decision = access(who, owners=contact.state.counselors,
                          assigned=contact.doc.get("assigned_to", []))  # fmt: skip
        if decision is Access.REFUSED:
            raise not_assigned("contact_id")
        if decision is Access.TAKE:
            if not await intake.contacts.take(contact, who.sub):
                return None  # changed meanwhile (maybe taken): decide again
            await intake.audit.record(center_id=contact.center_id, action="contact.take",
                                      actor=who.sub, role=str(who.role), reason="answering",
                                      at=intake.clock.now(), contact_id=contact_id)  # fmt: skip
            return await contact_or_404(intake, contact_id)
        if decision is Access.BREAK_GLASS:
            await break_glass(intake.audit, intake.events, who,
                              center_id=contact.center_id, contact_id=contact_id, resource="contact",
                              resource_id=contact_id, service="intake", now=intake.clock.now())  # fmt: skip
        return contact

    return await retry_on_conflict(attempt, what="contact")


def unknown_contact() -> Problem:
    return Problem(404, "Unknown contact", field="contact_id")


# ---- risk ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScreeningInput:
    answers: PartialAnswers
    finished: bool  # False: the screen was interrupted (e.g. the caller hung up after Q2)
    override: RiskLevel | None
    override_reason: str | None
    followup_id: str | None = None  # a re-screen during a follow-up call


def screening_id_for(contact_id: str, idempotency_key: str | None) -> str:
    return (
        derive_id("screening", contact_id, idempotency_key)
        if idempotency_key
        else str(uuid.uuid4())
    )


async def submit_screening(
    intake: Intake, *, contact: StoredContact, given: ScreeningInput, actor: str,
    is_supervisor: bool, idempotency_key: str | None,
) -> Document:  # fmt: skip
    """A new screen: triaged and published when finished, kept as incomplete otherwise."""
    contact_id = contact.state.contact_id
    screening_id = screening_id_for(contact_id, idempotency_key)
    base = {"_id": screening_id, "contact_id": contact_id, "center_id": contact.center_id}
    now = intake.clock.now()
    if not given.finished:
        next_question(given.answers)  # validates what was answered so far
        doc = {**base, **_incomplete(intake, base, given.answers, actor, now)}
        return _same_kind(await intake.screenings.insert(doc, None, now=now), finished=False)
    fields, event = _assessed(intake, contact, screening_id, given, actor, is_supervisor)
    stored = _same_kind(
        await intake.screenings.insert({**base, **fields}, event, now=now), finished=True
    )
    await intake.outbox("screenings").flush(screening_id)
    await record_risk(intake, contact_id, stored)
    return stored


def _same_kind(stored: Document, *, finished: bool) -> Document:
    """A repeated Idempotency-Key returns the first request's screening; a key reused for
    a different kind of request (a finished screen after an interrupted one) is refused."""
    if (stored.get("status", "complete") == "complete") != finished:
        raise IdempotencyKeyReused(
            "this Idempotency-Key saved another kind of screen; resume it with PUT"
        )
    return stored


class IdempotencyKeyReused(Exception):
    """An Idempotency-Key sent again with a different request."""


class ScreeningFinished(Exception):
    """The screen was completed already: a new screen is a new screening."""


async def resume_screening(
    intake: Intake, *, contact: StoredContact, screening_id: str, given: ScreeningInput,
    actor: str, is_supervisor: bool,
) -> Document:  # fmt: skip
    """Save more of an interrupted screen, or finish it (then it is triaged and published)."""
    contact_id = contact.state.contact_id

    async def attempt() -> bool | None:
        stored = await intake.screenings.get(screening_id, contact_id=contact_id)
        if stored is None:
            raise Problem(404, "Unknown screening", field="screening_id")
        if stored.get("status", "complete") != "incomplete":
            raise ScreeningFinished(screening_id)
        now = intake.clock.now()
        if not given.finished:
            next_question(given.answers)
            fields, events = _incomplete(intake, stored, given.answers, actor, now), []
        else:
            fields, event = _assessed(intake, contact, screening_id, given, actor, is_supervisor)
            events = [event]
        return True if await intake.screenings.update(stored, fields, events, now=now) else None

    await retry_on_conflict(attempt, what="screening")
    await intake.outbox("screenings").flush(screening_id)
    found = await intake.screenings.get(screening_id)
    assert found is not None
    if found["status"] == "complete":
        await record_risk(intake, contact_id, found)
    return found


def _sealed_answers(intake: Intake, center_id: str, screening_id: str, answers: object) -> str:
    """C-SSRS answers are clinical data: encrypted like notes (the screening id bound in)."""
    return intake.keyring.encrypt(f"center:{center_id}", json.dumps(answers, sort_keys=True),
                                  context=f"screening:{screening_id}:answers")  # fmt: skip


def _incomplete(intake: Intake, screening: Document, answers: PartialAnswers, actor: str,
                now: datetime) -> Document:  # fmt: skip
    sealed = _sealed_answers(intake, screening["center_id"], screening["_id"], answers)
    return {"status": "incomplete", "answers": sealed, "next_question": next_question(answers),
            "computed_level": None, "level": None, "override": None, "rule_version": RULE_VERSION,
            "assessed_by": actor, "assessed_at": None, "saved_at": now}  # fmt: skip


def _assessed(
    intake: Intake, contact: StoredContact, screening_id: str, given: ScreeningInput,
    actor: str, is_supervisor: bool,
) -> tuple[Document, Envelope]:  # fmt: skip
    answers = complete(given.answers)
    computed = triage(answers)
    level, direction = apply_override(computed, given.override, is_supervisor=is_supervisor)
    now = intake.clock.now()
    override_doc = None
    if direction is not None:
        reason_ct = intake.keyring.encrypt(
            f"center:{contact.center_id}",
            given.override_reason or "",
            context=f"screening:{screening_id}:reason",
        )
        override_doc = {"level": str(level), "direction": str(direction), "reason": reason_ct}
    data = RiskAssessedData(
        contact_id=contact.state.contact_id, screening_id=screening_id, level=level, computed_level=computed,
        rule_version=RULE_VERSION, assessed_by=actor, assessed_at=now, followup_id=given.followup_id,
        override=RiskOverride(level=level, reason_code=f"{direction}-by-{'supervisor' if is_supervisor else 'counselor'}")
        if direction else None,
    )  # fmt: skip
    event = new_event(RiskAssessed, data=data, center_id=contact.center_id, source=SOURCE,
                      time=now, cause=(screening_id,))  # fmt: skip
    fields = {
        "status": "complete", "next_question": None, "computed_level": str(computed),
        "answers": _sealed_answers(intake, contact.center_id, screening_id, vars(answers)),
        "level": str(level), "override": override_doc, "rule_version": RULE_VERSION,
        "assessed_by": actor, "assessed_at": now, "followup_id": given.followup_id,
    }  # fmt: skip
    return fields, event


async def record_risk(intake: Intake, contact_id: str, screening: Document) -> None:
    """The contact's current risk is its newest screening's."""
    risk = {"level": screening["level"], "screening_id": screening["_id"],
            "assessed_at": screening["assessed_at"]}  # fmt: skip

    async def attempt() -> bool | None:
        stored = await contact_or_404(intake, contact_id)
        current = stored.doc.get("risk") or {}
        recorded = (
            (current["assessed_at"], str(current.get("screening_id") or ""))
            if current.get("assessed_at") is not None
            else None
        )
        if not newest_wins(recorded, (risk["assessed_at"], str(risk["screening_id"]))):
            return False
        return True if await intake.contacts.set_risk(stored, risk) else None

    await retry_on_conflict(attempt, what="contact risk")


async def escalate(
    intake: Intake, *, contact: StoredContact, reason: EscalationReason, actions: list[str],
    actor: str, idempotency_key: str | None,
) -> Document:  # fmt: skip
    now = intake.clock.now()
    contact_id = contact.state.contact_id
    escalation_id = (
        derive_id("escalation", contact_id, idempotency_key)
        if idempotency_key
        else str(uuid.uuid4())
    )
    data = RiskEscalatedData(contact_id=contact_id, escalation_id=escalation_id, reason=reason,
                             actions=tuple(actions), escalated_by=actor, escalated_at=now)  # fmt: skip
    event = new_event(RiskEscalated, data=data, center_id=contact.center_id, source=SOURCE,
                      time=now, cause=(escalation_id,))  # fmt: skip
    doc = {"_id": escalation_id, "contact_id": contact_id, "center_id": contact.center_id,
           "reason": str(reason), "actions": actions, "escalated_by": actor, "escalated_at": now,
           "ems": None}  # fmt: skip
    stored = await intake.escalations.insert(doc, event, now=now)
    await intake.outbox("escalations").flush(escalation_id)
    return stored


async def confirm_ems(
    intake: Intake, *, contact: StoredContact, escalation_id: str, reached: bool, actor: str
) -> Document:
    contact_id = contact.state.contact_id

    async def attempt() -> bool | None:
        existing = await intake.escalations.get(escalation_id, contact_id=contact_id)
        if existing is None:
            raise Problem(404, "Unknown escalation", field="escalation_id")
        if not ems_confirmation_accepted((existing.get("ems") or {}).get("reached")):
            return False
        now = intake.clock.now()
        data = RiskEmsConfirmedData(contact_id=contact_id, escalation_id=escalation_id,
                                    reached=reached, confirmed_by=actor, confirmed_at=now)  # fmt: skip
        event = new_event(RiskEmsConfirmed, data=data, center_id=contact.center_id, source=SOURCE,
                          time=now, cause=(escalation_id, "ems", str(reached)))  # fmt: skip
        ems = {"reached": reached, "confirmed_by": actor, "confirmed_at": now}
        return (
            True
            if await intake.escalations.update(existing, {"ems": ems}, [event], now=now)
            else None
        )

    await retry_on_conflict(attempt, what="escalation")
    await intake.outbox("escalations").flush(escalation_id)
    found = await intake.escalations.get(escalation_id)
    assert found is not None
    return found


# ---- PHI release ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Released:
    number: str | None
    email: str | None


async def release_caller(
    intake: Intake, *, contact: StoredContact, actor: str, role: str, reason: str
) -> Released:
    """Decrypt the caller's number (and email, if given) for a reason; audited first."""
    contact_id = contact.state.contact_id
    email = contact.doc.get("caller_email")
    await intake.audit.record(
        action="caller-number.read", actor=actor, role=role, contact_id=contact_id,
        center_id=contact.center_id, reason=reason, at=intake.clock.now(),
        released=contact.caller.number_ciphertext is not None or email is not None,
    )  # fmt: skip
    number = contact.caller.number_ciphertext
    return Released(
        number=intake.keyring.decrypt(number, context=f"contact:{contact_id}:caller")
        if number
        else None,
        email=intake.keyring.decrypt(email, context=f"contact:{contact_id}:email")
        if email
        else None,
    )


async def record_email(
    intake: Intake, *, contact: StoredContact, email: str, actor: str, role: str
) -> None:
    """An email address for caring contacts, encrypted like a caller number and audited."""
    contact_id = contact.state.contact_id
    await intake.audit.record(
        action="caller-email.write", actor=actor, role=role, contact_id=contact_id,
        center_id=contact.center_id, reason="caring-contact", at=intake.clock.now(),
    )  # fmt: skip

    async def attempt() -> bool | None:
        stored = await contact_or_404(intake, contact_id)
        sealed = intake.keyring.encrypt(f"center:{contact.center_id}", email,
                                        context=f"contact:{contact_id}:email")  # fmt: skip
        return (
            True
            if await intake.contacts.set_email(stored, sealed, now=intake.clock.now())
            else None
        )

    await retry_on_conflict(attempt, what="contact")


# ---- callback number ---------------------------------------------------------------------


async def record_callback_number(
    intake: Intake, *, contact: StoredContact, number: str, actor: str, role: str
) -> None:
    """A number to call back, for a contact that arrived without one: encrypted like a caller
    number, audited, and announced (without the number) so a waiting callback can start."""
    center = intake.centers.get(contact.center_id)
    if center is None:
        raise Problem(404, "Unknown center", field="center_id")
    contact_id = contact.state.contact_id

    async def attempt() -> bool | None:
        stored = await contact_or_404(intake, contact_id)
        pepper = center.caller_token_pepper.get_secret_value().encode()
        ciphertext = intake.keyring.encrypt(f"center:{center.id}", number,
                                            context=f"contact:{contact_id}:caller")  # fmt: skip
        caller = Caller(
            token=caller_token(pepper, number), number_ciphertext=ciphertext, reachable=True
        )
        now = intake.clock.now()
        data = ContactData(contact_id=contact_id, provider=stored.state.provider,
                           provider_contact_id=stored.state.provider_contact_id,
                           channel=stored.state.channel, occurred_at=now,
                           caller_token=caller.token, caller_reachable=True)  # fmt: skip
        event = new_event(ContactCallbackNumberRecorded, data=data, center_id=center.id,
                          source=SOURCE, time=now, cause=(contact_id, "callback-number", caller.token or ""))  # fmt: skip
        return True if await intake.contacts.set_caller(stored, caller, event, now=now) else None

    await intake.audit.record(
        action="callback-number.write", actor=actor, role=role, contact_id=contact_id,
        center_id=contact.center_id, reason="callback", at=intake.clock.now(),
    )  # fmt: skip
    await retry_on_conflict(attempt, what="contact")
    # Durable now; published soon after the answer (or by the relay if Kafka is down).
    intake.flusher.flush_later(intake.outbox("contacts"), contact_id)


# ---- legal hold and retention ----------------------------------------------------------------

# What retention deletes here, and when (hotline_shared.retention; the center's periods).
RETENTION_RULES = (
    Rule("contacts", "created_at", "clinical", contact_field="_id"),
    Rule("screenings", "created_at", "clinical"),
    Rule("escalations", "created_at", "clinical"),
    Rule(EventLog.CLAIMS, "at", "operational", contact_field=None, center_field=None),
    Rule("phi_read_counts", "window_start", "operational", contact_field=None, center_field=None),
)


async def set_legal_hold(intake: Intake, *, contact: StoredContact, held: bool, reason: str,
                         actor: str, role: str) -> None:  # fmt: skip
    """Put a contact's records under legal hold (retention keeps them everywhere) or lift
    it: audited, recorded here, and announced to the other services."""
    now = intake.clock.now()
    contact_id = contact.state.contact_id
    await intake.audit.record(center_id=contact.center_id, action="legal-hold.set" if held else "legal-hold.lift",
                              actor=actor, role=role, reason=reason, at=now, contact_id=contact_id)  # fmt: skip
    await LegalHolds(intake.db).change(contact_id=contact_id, center_id=contact.center_id,
                                       held=held, at=now)  # fmt: skip
    data = LegalHoldData(contact_id=contact_id, held=held, changed_by=actor, changed_at=now)
    await intake.events.emit(new_event(
        ContactLegalHoldChanged, data=data, center_id=contact.center_id, source=SOURCE, time=now,
        cause=(contact_id, "legal-hold", now.isoformat())))  # fmt: skip


# ---- KPIs ----------------------------------------------------------------------------------


async def operations_kpis(
    intake: Intake, *, center_id: str, since: datetime, until: datetime
) -> dict[str, Any]:
    """Contact-center KPIs for contacts queued in [since, until) (reference/kpis.md):

    - offered: contacts that reached the queue;
    - answered: connected to a counselor;
    - abandoned: left the queue before an answer, short abandons excluded;
    - short abandons: left within the center's threshold (default 5 s): counted apart;
    - failed: never reached a counselor through no choice of theirs (queue full, errors);
    - answer rate = answered / offered; abandonment rate = abandoned / offered;
    - ASA = mean(answered_at - queued_at) over answered;
    - service level = answered within T s / (offered - short abandons);
    - AHT = mean(handle time) over answered and ended, handle time running from the answer
      to the end of after-contact work where the provider reports it, else to the end;
    - longest wait: the longest any caller queued (answered or not);
    - average time to abandon = mean queue time of abandons (short ones excluded);
    - transfers out of the center (rollover rate = out / offered) apart from transfers within.
    """
    match = {"center_id": center_id, "queued_at": {"$gte": since, "$lt": until}}
    sums = await intake.contacts.kpi_sums(match)
    within = await intake.contacts.count(
        {**match, "wait_s": {"$lte": intake.service_level_seconds}}
    )
    offered, answered = sums.get("offered", 0), sums.get("answered", 0)
    abandoned, handled = sums.get("abandoned", 0), sums.get("handled", 0)
    short = sums.get("short_abandoned", 0)
    return {
        "center_id": center_id, "since": since, "until": until,
        "offered": int(offered), "answered": int(answered), "abandoned": int(abandoned),
        "short_abandoned": int(short), "failed": int(sums.get("failed", 0)),
        "transferred": int(sums.get("transferred", 0)),
        "transferred_out_of_center": int(sums.get("transferred_out", 0)),
        "transferred_within_center": int(sums.get("transferred_within", 0)),
        "answer_rate": ratio(answered, offered), "abandonment_rate": ratio(abandoned, offered),
        "rollover_rate": ratio(sums.get("transferred_out", 0), offered),
        "longest_wait_seconds": await intake.contacts.longest_wait(match),
        "average_speed_to_answer_seconds": ratio(sums.get("wait_s", 0), answered),
        "average_time_to_abandon_seconds": ratio(sums.get("abandon_wait_s", 0), abandoned),
        "service_level": ratio(within, offered - short),
        "service_level_threshold_seconds": intake.service_level_seconds,
        "average_handle_time_seconds": ratio(sums.get("handle_s", 0), handled),
    }  # fmt: skip


ASSIGNED_WINDOW = timedelta(hours=12)


async def my_contacts(intake: Intake, *, center_id: str, who: Principal) -> list[Document]:
    """The contacts of the last 12 hours this counselor answered or took (a supervisor: all
    of the center's answered ones). Metadata only: no number, no risk (those are reads)."""
    since = intake.clock.now() - ASSIGNED_WINDOW
    if who.role is Role.COUNSELOR:
        return await intake.contacts.assigned(center_id, since=since, user=who.sub,
                                              agent_ids=who.agent_ids)  # fmt: skip
    return await intake.contacts.assigned(center_id, since=since)


async def caller_history(
    intake: Intake, *, contact: StoredContact, who: Principal
) -> list[Document]:
    """The same caller's earlier contacts in this center (pseudonymous token), with their last
    risk; audited as a read of each."""
    token = contact.caller.token
    if token is None:
        return []
    earlier = [d for d in await intake.contacts.of_caller(contact.center_id, token)
               if d["_id"] != contact.state.contact_id]  # fmt: skip
    await intake.audit.record(
        center_id=contact.center_id, action="contact.history", actor=who.sub, role=str(who.role),
        reason="treatment", at=intake.clock.now(), contact_id=contact.state.contact_id,
        contacts=[d["_id"] for d in earlier],  # whose risk this reveals, each named
    )  # fmt: skip
    return earlier


async def escalations_of(intake: Intake, contact_id: str) -> list[Document]:
    return sorted(await intake.escalations.find({"contact_id": contact_id}),
                  key=lambda d: d["escalated_at"])  # fmt: skip


async def kpi_intervals(intake: Intake, *, center_id: str, start: datetime, end: datetime,
                        step: timedelta) -> dict[str, Any]:  # fmt: skip
    """Contact KPIs per interval, and the risk mix of the screens made in the window."""
    rows = [Queued(d["queued_at"], {m["m"]: m["v"] for m in d.get("metrics", [])})
            for d in await intake.contacts.queued_between(center_id, start, end)]  # fmt: skip
    intervals = interval_kpis(rows, start=start, end=end, step=step,
                              service_level_seconds=intake.service_level_seconds)  # fmt: skip
    screens = await intake.screenings.find(
        {"center_id": center_id, "assessed_at": {"$gte": start, "$lt": end}, "level": {"$ne": None}},
        {"level": 1},
    )  # fmt: skip
    mix = {str(level): 0 for level in RiskLevel}
    for screen in screens:
        mix[screen["level"]] += 1
    return {"center_id": center_id, "from": start, "to": end, "interval_seconds": step.total_seconds(),
            "service_level_threshold_seconds": intake.service_level_seconds,
            "intervals": intervals, "risk_mix": mix}  # fmt: skip


async def live_board(intake: Intake, *, center_id: str, day_start: datetime) -> dict[str, Any]:
    """Now: contacts waiting and the longest current wait, counselors on contacts; and
    today's KPIs so far."""
    now = intake.clock.now()
    recent = now - timedelta(hours=12)
    queued = await intake.contacts.waiting_since(center_id, recent)
    counselors = await intake.contacts.counselors_on_contacts(center_id, recent)
    return {
        "center_id": center_id, "at": now, "waiting": len(queued),
        "longest_waiting_seconds": (now - min(queued)).total_seconds() if queued else None,
        "counselors_on_contacts": len(counselors),
        "today": await operations_kpis(intake, center_id=center_id, since=day_start, until=now),
    }  # fmt: skip
