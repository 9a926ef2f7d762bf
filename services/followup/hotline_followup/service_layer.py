"""Follow-up's use cases: tasks from events, durable timers, attempts, SLA views."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hotline_shared import metrics
from hotline_shared.audit import AuditLog
from hotline_shared.auth import Principal, Role
from hotline_shared.clock import Clock
from hotline_shared.crypto import KeyRing
from hotline_shared.events import (
    AttemptOutcome,
    ContactAnswered,
    ContactCallbackNumberRecorded,
    ContactLegalHoldChanged,
    Envelope,
    FollowupAttempted,
    FollowupAttemptedData,
    FollowupCompleted,
    FollowupCompletedData,
    FollowupDue,
    FollowupDueData,
    FollowupKind,
    FollowupMissed,
    FollowupMissedData,
    FollowupScheduled,
    FollowupScheduledData,
    FollowupSlaAtRisk,
    FollowupSlaBreached,
    FollowupSlaData,
    new_event,
)  # fmt: skip
from hotline_shared.intervals import bucket_of, interval_starts
from hotline_shared.kafka import EventBus
from hotline_shared.mongo import Document, Outbox, retry_on_conflict
from hotline_shared.problems import Problem
from hotline_shared.retention import LegalHolds, Rule
from pymongo.asynchronous.database import AsyncDatabase

from hotline_followup import caring
from hotline_followup.adapters.alerts import AlertQueue
from hotline_followup.adapters.tasks import AnsweredCallers, TaskStore, new_task, to_task
from hotline_followup.domain.alerts import ALERTING_TYPES, alerts_supervisor_now
from hotline_followup.domain.hours import CallingHours, hold_to_calling_hours
from hotline_followup.domain.policy import Policy, TaskSpec, callback_id, plan
from hotline_followup.domain.task import (
    ClaimedByOther,
    Happened,
    NeedsNumber,
    NotSchedulable,
    Status,
    Task,
    TaskClosed,
    assign,
    attempt,
    cancel,
    check_not_claimed_by_other,
    claim,
    complete,
    fire,
    next_fire_at,
    number_recorded,
    release,
    schedule,
)  # fmt: skip
from hotline_followup.timers import Timers

SOURCE = "hotline/followup"

# What retention deletes here, and when (hotline_shared.retention; the center's periods).
RETENTION_RULES = (
    Rule("tasks", "created_at", "clinical"),
    Rule("caring_series", "created_at", "clinical"),
    Rule("alerts", "next_try_at", "operational", contact_field=None),
    Rule(
        "answered_callers", "last_answered_at", "operational", contact_field=None, center_field=None
    ),
)


@dataclass
class Followup:
    db: AsyncDatabase[Document]
    bus: EventBus
    clock: Clock
    policies: dict[str, Policy]
    default_policy: Policy
    alerts: AlertQueue
    timers: Timers
    keyring: KeyRing
    hours: dict[str, CallingHours]
    caring: caring.Caring
    audit: AuditLog
    claim_ttl: timedelta = timedelta(minutes=15)

    @property
    def tasks(self) -> TaskStore:
        return TaskStore(self.db["tasks"])

    @property
    def answered(self) -> AnsweredCallers:
        return AnsweredCallers(self.db)

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.db["tasks"], self.bus.publish, prepare=self.queue_alerts)

    async def queue_alerts(self, events: Sequence[Envelope]) -> None:
        """Outbox entries about to go out: the alerting ones are queued first, in one write
        (keyed by event id), then published; a crash repeats both, which dedupe."""
        await self.alerts.enqueue([e for e in events if e.type in ALERTING_TYPES],
                                  now=self.clock.now())  # fmt: skip

    def policy(self, center_id: str) -> Policy:
        return self.policies.get(center_id, self.default_policy)

    def calling_hours(self, center_id: str) -> CallingHours | None:
        """None when time is scaled (the demo profile): a clock hour is then five seconds."""
        if self.policy(center_id).time_scale != 1:
            return None
        return self.hours.get(center_id)


# ---- consumers -----------------------------------------------------------------------------


async def on_event(f: Followup, event: Envelope) -> None:
    """Contacts, risk and sessions events in; tasks created, cancelled or completed."""
    if alerts_supervisor_now(event):  # queued once, keyed by the event id, whoever consumes it
        await f.alerts.enqueue([event], now=f.clock.now())
    policy = f.policy(event.centerid)
    decided = plan(event, policy)
    if isinstance(event, ContactAnswered) and decided.cancel_callbacks_for_caller:
        await caller_answered(
            f, event.centerid, decided.cancel_callbacks_for_caller, event.data.occurred_at
        )
    for spec in decided.create:
        await create_task(f, spec, policy)
    if decided.series is not None:
        await caring.start_series(f.caring, decided.series)
    if decided.complete_ems_for:
        await complete_ems(f, decided.complete_ems_for)
    if decided.number_for and isinstance(event, ContactCallbackNumberRecorded):
        await number_arrived(f, event, policy)
    if isinstance(event, ContactLegalHoldChanged):
        await LegalHolds(f.db).change(contact_id=event.data.contact_id, center_id=event.centerid,
                                      held=event.data.held, at=event.data.changed_at)  # fmt: skip


async def number_arrived(f: Followup, event: ContactCallbackNumberRecorded, policy: Policy) -> None:
    """The callback that waited for a number starts now (inside calling hours)."""
    first_due = policy.seconds(policy.rule(FollowupKind.CALLBACK).first_due_seconds)
    hours = f.calling_hours(event.centerid)

    def started(task: Task) -> tuple[Task, list[Happened]]:
        after, happened = number_recorded(task, caller_token=event.data.caller_token,
                                          now=f.clock.now(), first_due=first_due)  # fmt: skip
        return hold_to_calling_hours(after, hours), happened

    await change_task(f, callback_id(event.data.contact_id), started)


async def create_task(f: Followup, spec: TaskSpec, policy: Policy) -> None:
    task = new_task(spec, spacing=policy.seconds(policy.rule(spec.kind).spacing_seconds))
    task = hold_to_calling_hours(task, f.calling_hours(spec.center_id))
    if await _answered_after(f, spec):
        task, _ = cancel(task)  # the caller already got through again (replays arrive unordered)
    now = f.clock.now()
    data = FollowupScheduledData(contact_id=task.contact_id, followup_id=task.id, kind=task.kind,
                                 due_at=task.due_at, deadline_at=task.due_at, attempt_no=1,
                                 policy_version=task.policy_version)  # fmt: skip
    scheduled = _event(FollowupScheduled, data, task, now, "scheduled")
    created = await f.tasks.create(task, cause=spec.cause, fraction=policy.at_risk_fraction,
                                   events=[scheduled], now=now)  # fmt: skip
    await f.outbox.flush(task.id)  # also when replayed: publishes what a crash left
    if created:  # its timer, after the flush (a timer firing flushes too)
        f.timers.schedule(task.id, next_fire_at(task, policy.at_risk_fraction))


async def _answered_after(f: Followup, spec: TaskSpec) -> bool:
    if spec.kind != "callback" or not spec.caller_token:
        return False
    seen = await f.answered.last_answered(spec.center_id, spec.caller_token)
    return bool(seen and seen["last_answered_at"] > spec.created_at)


async def caller_answered(f: Followup, center_id: str, caller_token: str, at: datetime) -> None:
    """A caller who got through again needs no callback for an earlier abandoned call."""

    async def record() -> bool | None:
        seen = await f.answered.last_answered(center_id, caller_token)
        if seen is not None and seen["last_answered_at"] >= at:
            return False
        return True if await f.answered.record(seen, center_id, caller_token, at) else None

    await retry_on_conflict(record, what="answered caller")
    for doc in await f.tasks.open_callbacks(center_id, caller_token):
        if doc["created_at"] < at:
            await change_task(f, doc["_id"], cancel)


async def complete_ems(f: Followup, escalation_id: str) -> None:
    doc = await f.tasks.by_cause(escalation_id, "ems-confirmation")
    if doc is not None:
        await change_task(f, doc["_id"], complete)


Change = Callable[[Task], tuple[Task, list[Happened]]]


async def change_task(f: Followup, task_id: str, change: Change, *, outcome: AttemptOutcome | None = None,
                      check: Callable[[Document], None] | None = None,
                      record: Callable[[Document], Document] | None = None) -> Document | None:  # fmt: skip
    """Read, apply a domain transition, write state and events if nobody else wrote
    meanwhile; otherwise again from a fresh read. None if the task does not exist."""

    async def attempt() -> Document | bool | None:
        doc = await f.tasks.get(task_id)
        if doc is None:
            return False
        if check is not None:
            check(doc)
        before = to_task(doc)
        after, happened = change(before)
        if after == before:
            return True  # nothing to change (a replayed request, a no-op transition)
        entry = record(doc) if record is not None else None
        if not await _store(f, doc, after, happened, outcome=outcome, record=entry):
            return None
        return True

    if await retry_on_conflict(attempt, what="follow-up task") is False:
        return None
    await f.outbox.flush(task_id)
    stored = await f.tasks.get(task_id)
    if stored is not None:  # its timer, after the flush (a timer firing flushes too)
        f.timers.schedule(task_id, stored.get("next_fire_at"))
    return stored


async def _store(f: Followup, doc: Document, task: Task, happened: list[Happened], *,
                 outcome: AttemptOutcome | None = None, record: Document | None = None) -> bool:  # fmt: skip
    now = f.clock.now()
    events = [e for e in (_happened_event(task, what, now, outcome) for what in happened) if e]
    fraction = f.policy(task.center_id).at_risk_fraction
    log = None
    if record is not None and Happened.ATTEMPTED in happened:
        log = {**record, "n": task.attempts, "outcome": str(outcome), "at": now}
    return await f.tasks.save(
        task, version=doc["version"], fraction=fraction, events=events, now=now, log=log
    )


# ---- timers --------------------------------------------------------------------------------


async def fire_timers(f: Followup, due: list[tuple[str, datetime]]) -> int:
    """Fire a batch of timers the wheel found due: one read, one bulk conditional write of
    state and events, one outbox flush. A task changed since its timer was set is fired on
    its fresh state or put back at its new time; one another writer changed meanwhile keeps
    that write, and goes back on the wheel at its new time (now, if still due)."""
    now = f.clock.now()
    docs = await f.tasks.many([task_id for task_id, _ in due])
    fractions = {doc["center_id"]: f.policy(doc["center_id"]).at_risk_fraction for doc in docs}
    saves: list[tuple[Task, int, list[Envelope]]] = []
    for doc in docs:
        at = doc.get("next_fire_at")
        if at is None or at > now:
            f.timers.schedule(doc["_id"], at)  # moved since (an attempt, a new agreed time)
            continue
        metrics.TIMER_LATENESS.observe((now - at).total_seconds())
        task, happened = fire(to_task(doc), now=now, fraction=fractions[doc["center_id"]])
        events = [e for e in (_happened_event(task, what, now, None) for what in happened) if e]
        saves.append((task, doc["version"], events))
    if not saves:
        return 0
    writer = uuid.uuid4().hex  # which writes were this batch's, for the flush
    fired = await f.tasks.save_many(saves, fraction=fractions, now=now, writer=writer)
    if fired < len(saves):  # some lost to another writer: put them back at their fresh time
        fresh = await f.tasks.many([task.id for task, _, _ in saves])
        for doc in fresh:
            f.timers.schedule(doc["_id"], doc.get("next_fire_at"))
    else:
        for task, _, _ in saves:
            f.timers.schedule(task.id, next_fire_at(task, fractions[task.center_id]))
    # Only the writes this batch won: the winner of a race flushes its own (and so no
    # event is published twice by two replicas flushing the same document at once).
    await f.outbox.flush_many([task.id for task, _, _ in saves], match={"written_by": writer})
    return fired


def _happened_event(
    task: Task, what: Happened, now: datetime, outcome: AttemptOutcome | None
) -> Envelope | None:
    ids = {"contact_id": task.contact_id, "followup_id": task.id, "kind": task.kind}
    match what:
        case Happened.DUE:
            data: Any = FollowupDueData(**ids, due_at=task.due_at, attempt_no=task.due_fired)
            # an agreed time (schedule) opens a window again: it is a new fact, a new event
            return _event(FollowupDue, data, task, now, "due", str(task.due_fired),
                          f"agreed-{task.reschedules}")  # fmt: skip
        case Happened.SLA_AT_RISK | Happened.SLA_BREACHED:
            cls = FollowupSlaAtRisk if what is Happened.SLA_AT_RISK else FollowupSlaBreached
            # an attempt's late breach belongs to the window that attempt closed
            window = task.window - 1 if outcome is not None else task.window
            data = FollowupSlaData(**ids, deadline_at=task.due_at, observed_at=now)
            return _event(cls, data, task, now, str(what), f"window-{window}",
                          f"agreed-{task.reschedules}")  # fmt: skip
        case Happened.ATTEMPTED:
            assert outcome is not None
            data = FollowupAttemptedData(
                **ids, attempt_no=task.attempts, outcome=outcome, attempted_at=now
            )
            return _event(FollowupAttempted, data, task, now, "attempt", str(task.attempts))
        case Happened.COMPLETED:
            return _event(
                FollowupCompleted,
                FollowupCompletedData(**ids, completed_at=now),
                task,
                now,
                "completed",
            )
        case Happened.MISSED:
            data = FollowupMissedData(**ids, attempts=task.attempts, missed_at=now)
            return _event(FollowupMissed, data, task, now, "missed")
        case _:
            return None  # cancelled: state only (no v1 event type)


def _event(cls: type[Envelope], data: Any, task: Task, now: datetime, *cause: str) -> Envelope:
    return new_event(
        cls, data=data, center_id=task.center_id, source=SOURCE, time=now, cause=(task.id, *cause)
    )


# ---- attempts and views --------------------------------------------------------------------


@contextlib.contextmanager
def _task_problems() -> Iterator[None]:
    """A task's domain refusals as problem+json."""
    try:
        yield
    except TaskClosed as exc:
        raise Problem(409, "Follow-up is closed", detail=str(exc), field="followup_id") from exc
    except NeedsNumber as exc:
        raise Problem(409, "No number to call yet", detail=str(exc), field="followup_id") from exc
    except ClaimedByOther as exc:
        raise Problem(409, "Claimed by another worker", detail=str(exc), field="followup_id",
                      extra={"claimed_by": exc.holder}) from exc  # fmt: skip
    except NotSchedulable as exc:
        raise Problem(422, "Not schedulable", detail=str(exc), field="at") from exc


async def record_attempt(
    f: Followup, task_id: str, outcome: AttemptOutcome, who: Principal, *,
    idempotency_key: str | None = None, actor: str = "", documentation: Document | None = None,
) -> Document:  # fmt: skip
    """A call attempt and, if given, what the call documented (mood, current risk, re-screen,
    safety-plan review, lethal means, wants more contact, notes: sealed as a whole)."""
    wants_more = (documentation or {}).get("wants_more_contact")

    def check(doc: Document) -> None:
        who.require_center(doc["center_id"], unknown_followup)

    def attempted(task: Task) -> tuple[Task, list[Happened]]:
        with _task_problems():
            if idempotency_key is None or idempotency_key not in task.attempt_keys:
                check_not_claimed_by_other(task, actor, now=f.clock.now())
            after, happened = attempt(task, outcome, now=f.clock.now(), key=idempotency_key,
                                      wants_more_contact=wants_more)  # fmt: skip
        return hold_to_calling_hours(after, f.calling_hours(task.center_id)), happened

    def record(doc: Document) -> Document:
        return {"by": actor, "documentation": _sealed(f, doc, documentation)}

    found = await change_task(f, task_id, attempted, outcome=outcome, check=check, record=record)
    if found is None:
        raise unknown_followup()
    return found


def _sealed(f: Followup, doc: Document, documentation: Document | None) -> str | None:
    """Mood, risk, means and notes are clinical data: encrypted with the center's key."""
    if documentation is None:
        return None
    return f.keyring.encrypt(f"center:{doc['center_id']}", json.dumps(documentation),
                             context=f"followup:{doc['_id']}:call")  # fmt: skip


async def claim_task(f: Followup, task_id: str, who: Principal, *, take: bool) -> Document:
    """Claim (take=True) or release a task; others see the claim until it expires."""
    now = f.clock.now()

    def change(task: Task) -> tuple[Task, list[Happened]]:
        with _task_problems():
            if take:
                return claim(task, who.sub, now=now, ttl=f.claim_ttl), []
            return release(task, who.sub, now=now, supervisor=who.role is not Role.COUNSELOR), []

    return await _change_or_404(f, task_id, change, who)


async def assign_task(f: Followup, task_id: str, worker: str, who: Principal) -> Document:
    """A supervisor gives the task to a worker (claimed for them; audited)."""
    now = f.clock.now()

    def change(task: Task) -> tuple[Task, list[Happened]]:
        with _task_problems():
            return assign(task, worker, now=now, ttl=f.claim_ttl), []

    doc = await _change_or_404(f, task_id, change, who)
    await f.audit.record(center_id=doc["center_id"], action="followup.assign", actor=who.sub,
                         role=str(who.role), reason="supervision", at=now,
                         followup_id=task_id, worker=worker)  # fmt: skip
    return doc


async def schedule_call(f: Followup, task_id: str, at: datetime, who: Principal) -> Document:
    """The next call at a time agreed with the person, inside the center's calling hours."""
    now = f.clock.now()

    def change(task: Task) -> tuple[Task, list[Happened]]:
        hours = f.calling_hours(task.center_id)
        if hours is not None and not hours.is_open(at):
            raise Problem(422, "Outside the center's calling hours", field="at",
                          detail=f"{hours.opens:%H:%M}-{hours.closes:%H:%M} {hours.zone.key}")  # fmt: skip
        with _task_problems():
            check_not_claimed_by_other(task, who.sub, now=now)
            return schedule(task, at, now=now), []

    return await _change_or_404(f, task_id, change, who)


async def _change_or_404(f: Followup, task_id: str, change: Change, who: Principal) -> Document:
    def check(doc: Document) -> None:
        who.require_center(doc["center_id"], unknown_followup)

    found = await change_task(f, task_id, change, check=check)
    if found is None:
        raise unknown_followup()
    return found


def unknown_followup() -> Problem:
    return Problem(404, "Unknown follow-up", field="followup_id")


def task_out(doc: Document) -> Document:
    return {
        "id": doc["_id"], "contact_id": doc["contact_id"], "center_id": doc["center_id"],
        "kind": doc["kind"], "status": doc["status"], "due_at": doc["due_at"],
        "sla_state": doc["sla_state"], "attempts": doc["attempts"], "max_attempts": doc.get("max_attempts"),
        "policy_version": doc["policy_version"], "created_at": doc["created_at"],
        "first_attempt_at": doc.get("first_attempt_at"),
        "claimed_by": doc.get("claimed_by"), "claim_until": doc.get("claim_until"),
        "attempt_log": [{k: a.get(k) for k in ("n", "outcome", "at", "by")}
                        for a in doc.get("attempt_log", [])],
    }  # fmt: skip


def encode_cursor(doc: Document) -> str:
    return base64.urlsafe_b64encode(
        json.dumps([doc["due_at"].isoformat(), doc["_id"]]).encode()
    ).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        due, task_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(due), str(task_id)
    except (ValueError, TypeError) as exc:
        raise Problem(400, "Invalid cursor", field="cursor") from exc


async def work_queue(f: Followup, *, center_id: str, status: str | None, due_before: datetime | None,
                     cursor: str | None, limit: int, sla_state: str | None = None,
                     contact_ids: Sequence[str] = ()) -> Document:  # fmt: skip
    query: Document = {"center_id": center_id}
    if contact_ids:
        query["contact_id"] = {"$in": list(contact_ids)}
    if status:
        query["status"] = status
    if sla_state:
        query["sla_state"] = sla_state
    if due_before:
        query["due_at"] = {"$lt": due_before}
    if cursor:
        due, last = decode_cursor(cursor)
        query["$or"] = [{"due_at": {"$gt": due}}, {"due_at": due, "_id": {"$gt": last}}]
    docs = await f.tasks.page(query, limit + 1)
    more = len(docs) > limit
    docs = docs[:limit]
    return {
        "items": [task_out(d) for d in docs],
        "next_cursor": encode_cursor(docs[-1]) if more else None,
    }


async def sla_summary(f: Followup, center_id: str) -> Document:
    """Follow-up KPIs for a center, overall and by task kind (reference/kpis.md):

    - scheduled: tasks made (cancelled ones excluded);
    - reached / declined: tasks ended by that outcome; lost to follow-up: missed
      (attempts exhausted, or a wrong number);
    - first attempt within SLA rate = first attempts inside the first window / first attempts;
    - completion rate and lost-to-follow-up rate over closed tasks;
    - median time to first attempt (seconds).
    """
    match = {"center_id": center_id, "status": {"$ne": str(Status.CANCELLED)}}
    by_state = await f.tasks.count_by_sla_state(match)
    return {
        "center_id": center_id,
        "counts": {
            state: int(by_state.get(state, 0)) for state in ("on-track", "at-risk", "breached")
        },
        **await _followup_kpis(f, match),
        "by_kind": {
            **{
                str(kind): await _followup_kpis(f, {**match, "kind": str(kind)})
                for kind in FollowupKind
                if kind is not FollowupKind.CARING_CONTACT
            },
            str(FollowupKind.CARING_CONTACT): await _caring_kpis(f, center_id),
        },
    }


async def _caring_kpis(f: Followup, center_id: str) -> Document:
    """Caring contacts are messages, not calls: series started (scheduled), stopped by the
    person (opted out), finished; messages by state. No reached/lost: a message is not a call."""
    counts = await caring.kpis(f.caring, center_id)
    series, messages = counts["series"], counts["messages"]
    return {
        "scheduled": sum(series.values()), "active": series["active"],
        "completed": series["completed"], "opted_out": series["opted-out"], "messages": messages,
    }  # fmt: skip


async def _followup_kpis(f: Followup, match: Document) -> Document:
    sums = await f.tasks.metric_sums(match)
    attempted = int(sums.get("attempted_first", 0))
    median = await f.tasks.median_first_attempt_seconds(match, attempted) if attempted else None
    closed = sums.get("closed", 0)
    return {
        "tasks": int(sums.get("tasks", 0)),
        "scheduled": int(sums.get("tasks", 0)),
        "reached": int(sums.get("reached", 0)),
        "declined": int(sums.get("declined", 0)),
        "lost_to_follow_up": int(sums.get("missed", 0)),
        "first_attempt_within_sla_rate": round(sums.get("first_in_sla", 0) / attempted, 4)
        if attempted
        else None,
        "completion_rate": round(sums.get("completed", 0) / closed, 4) if closed else None,
        "lost_to_follow_up_rate": round(sums.get("missed", 0) / closed, 4) if closed else None,
        "median_seconds_to_first_attempt": median,
    }


# ---- the supervisors' alert feed -------------------------------------------------------------


def alert_out(doc: Document) -> Document:
    event = json.loads(doc["body"])
    data = event.get("data") or {}
    return {
        "id": doc["_id"], "center_id": doc["center_id"], "type": doc["type"],
        "contact_id": doc.get("contact_id"), "at": doc.get("at"),
        "imminent": doc["type"] == "hotline.risk.escalated.v1",
        "detail": {k: data[k] for k in ("level", "reason", "kind", "followup_id", "resource",
                                        "user", "session_id") if k in data},
        "acked_by": doc.get("acked_by"), "acked_at": doc.get("acked_at"),
        "delivery": doc.get("status"), "oncall": doc.get("oncall"),
    }  # fmt: skip


async def recent_alerts(f: Followup, center_id: str, limit: int) -> list[Document]:
    return [alert_out(d) for d in await f.alerts.recent(center_id, limit=limit)]


async def acknowledge_alert(f: Followup, alert_id: str, who: Principal) -> Document:
    """Who and when, once; audited."""
    doc = await f.alerts.get(alert_id)
    if doc is None or not who.can_access(doc["center_id"]):
        raise Problem(404, "Unknown alert", field="alert_id")
    now = f.clock.now()
    if await f.alerts.acknowledge(doc, by=who.sub, now=now):
        await f.audit.record(center_id=doc["center_id"], action="alert.acknowledge", actor=who.sub,
                             role=str(who.role), reason="supervision", at=now, alert_id=alert_id,
                             contact_id=doc.get("contact_id"))  # fmt: skip
    fresh = await f.alerts.get(alert_id)
    assert fresh is not None
    return alert_out(fresh)


# ---- follow-up KPIs by interval --------------------------------------------------------------


async def followup_kpi_intervals(f: Followup, *, center_id: str, start: datetime, end: datetime,
                                 step: timedelta) -> Document:  # fmt: skip
    """The funnel by kind for tasks created in [start, end) (scheduled → attempted → reached
    / declined / lost), and SLA breaches per interval (the stored breach alerts)."""
    match = {"center_id": center_id, "created_at": {"$gte": start, "$lt": end},
             "status": {"$ne": str(Status.CANCELLED)}}  # fmt: skip
    funnel = {}
    for kind in FollowupKind:
        if kind is FollowupKind.CARING_CONTACT:
            continue
        sums = await f.tasks.metric_sums({**match, "kind": str(kind)})
        funnel[str(kind)] = {"scheduled": int(sums.get("tasks", 0)),
                             "attempted": int(sums.get("attempted_first", 0)),
                             "reached": int(sums.get("reached", 0)),
                             "declined": int(sums.get("declined", 0)),
                             "lost": int(sums.get("missed", 0))}  # fmt: skip
    breaches = await f.alerts.times_of(center_id, "hotline.followup.sla-breached.v1", start, end)
    buckets = interval_starts(start, end, step)
    counts = dict.fromkeys(buckets, 0)
    for at in breaches:
        counts[buckets[bucket_of(at, start, step)]] += 1
    return {"center_id": center_id, "from": start, "to": end, "interval_seconds": step.total_seconds(),
            "funnel": funnel,
            "sla_breaches": [{"start": t, "breached": n} for t, n in counts.items()]}  # fmt: skip
