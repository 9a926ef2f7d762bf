"""Follow-up's use cases: tasks from events, durable timers, attempts, SLA views."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hotline_shared.clock import Clock
from hotline_shared.events import (
    AttemptOutcome,
    ContactAnswered,
    Envelope,
    FollowupAttempted,
    FollowupAttemptedData,
    FollowupCompleted,
    FollowupCompletedData,
    FollowupDue,
    FollowupDueData,
    FollowupMissed,
    FollowupMissedData,
    FollowupScheduled,
    FollowupScheduledData,
    FollowupSlaAtRisk,
    FollowupSlaBreached,
    FollowupSlaData,
    new_event,
)  # fmt: skip
from hotline_shared.kafka import EventBus
from hotline_shared.locks import KeyedLocks
from hotline_shared.mongo import Document, EventLog, sum_metrics
from hotline_shared.problems import Problem
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from hotline_followup.adapters.alerts import AlertQueue
from hotline_followup.adapters.tasks import TaskStore, new_task, to_task
from hotline_followup.domain.policy import Policy, TaskSpec, plan
from hotline_followup.domain.task import (
    Happened,
    Status,
    Task,
    TaskClosed,
    attempt,
    cancel,
    complete,
    fire,
)  # fmt: skip

SOURCE = "hotline/followup"
ALERTING = frozenset({Happened.SLA_AT_RISK, Happened.SLA_BREACHED, Happened.MISSED})


@dataclass
class Followup:
    db: AsyncDatabase[Document]
    bus: EventBus
    clock: Clock
    policies: dict[str, Policy]
    default_policy: Policy
    alerts: AlertQueue
    owner: str
    lease: timedelta
    locks: KeyedLocks = field(default_factory=KeyedLocks)

    @property
    def tasks(self) -> TaskStore:
        return TaskStore(self.db["tasks"])

    @property
    def events(self) -> EventLog:
        return EventLog(self.db, self.bus.publish)

    def policy(self, center_id: str) -> Policy:
        return self.policies.get(center_id, self.default_policy)


# ---- consumers -----------------------------------------------------------------------------


async def on_event(f: Followup, event: Envelope) -> None:
    """Contacts, risk and sessions events in; tasks created, cancelled or completed."""
    policy = f.policy(event.centerid)
    decided = plan(event, policy)
    if isinstance(event, ContactAnswered) and decided.cancel_callbacks_for_caller:
        await caller_answered(
            f, event.centerid, decided.cancel_callbacks_for_caller, event.data.occurred_at
        )
    for spec in decided.create:
        await create_task(f, spec, policy)
    if decided.complete_ems_for:
        await complete_ems(f, decided.complete_ems_for)


async def create_task(f: Followup, spec: TaskSpec, policy: Policy) -> None:
    task = new_task(spec, spacing=policy.seconds(policy.rule(spec.kind).spacing_seconds))
    answered_again = await _answered_after(f, spec)
    if answered_again:
        task, _ = cancel(task)  # the caller already got through again (replays arrive unordered)
    await f.tasks.create(task, cause=spec.cause, fraction=policy.at_risk_fraction, extra={})
    # emitted whether or not this delivery created it: a crash between the two is mended here
    data = FollowupScheduledData(contact_id=task.contact_id, followup_id=task.id, kind=task.kind,
                                 due_at=task.due_at, deadline_at=task.due_at, attempt_no=1,
                                 policy_version=task.policy_version)  # fmt: skip
    await f.events.emit(_event(FollowupScheduled, data, task, f.clock.now(), "scheduled"))


async def _answered_after(f: Followup, spec: TaskSpec) -> bool:
    if spec.kind != "callback" or not spec.caller_token:
        return False
    seen = await f.db["answered_callers"].find_one({"_id": f"{spec.center_id}:{spec.caller_token}"})
    return bool(seen and seen["last_answered_at"] > spec.created_at)


async def caller_answered(f: Followup, center_id: str, caller_token: str, at: datetime) -> None:
    """A caller who got through again needs no callback for an earlier abandoned call."""
    key = f"{center_id}:{caller_token}"
    seen = await f.db["answered_callers"].find_one({"_id": key})
    if seen is None or seen["last_answered_at"] < at:
        await f.db["answered_callers"].update_one(
            {"_id": key}, {"$set": {"last_answered_at": at}}, upsert=True
        )
    open_callbacks = f.tasks.collection.find({"caller_token": caller_token, "kind": "callback",
                                              "center_id": center_id, "attempts": 0,
                                              "status": {"$in": [str(Status.SCHEDULED), str(Status.DUE)]}})  # fmt: skip
    async for doc in open_callbacks:
        if doc["created_at"] < at:
            async with f.locks.hold(doc["_id"]):
                task, happened = cancel(to_task(doc))
                if happened:
                    await f.tasks.save(task, f.policy(task.center_id).at_risk_fraction)


async def complete_ems(f: Followup, escalation_id: str) -> None:
    doc = await f.tasks.collection.find_one({"cause": escalation_id, "kind": "ems-confirmation"})
    if doc is None:
        return
    async with f.locks.hold(doc["_id"]):
        task, happened = complete(to_task(doc))
        await _apply(f, task, happened, f.clock.now())


# ---- timers --------------------------------------------------------------------------------


async def run_timers(f: Followup, *, limit: int = 200) -> int:
    """Claim due timers (lease), fire them, emit what happened once, release."""
    now = f.clock.now()
    fired = 0
    for candidate in await f.tasks.due(now=now, limit=limit):
        async with f.locks.hold(candidate["_id"]):  # every write to a task goes through its lock
            doc = await f.tasks.take_lease(candidate, now=now, owner=f.owner, lease=f.lease)
            if doc is None:
                continue  # another replica has it
            policy = f.policy(doc["center_id"])
            task, happened = fire(to_task(doc), now=now, fraction=policy.at_risk_fraction)
            await _apply(f, task, happened, now)  # stores the task and frees the lease
            fired += len(happened)
    return fired


async def _apply(f: Followup, task: Task, happened: list[Happened], now: datetime,
                 outcome: AttemptOutcome | None = None) -> None:  # fmt: skip
    """Emit first (each event once, by id), then store: a crash in between re-fires the
    same events, which the event log drops."""
    for what in happened:
        event = _happened_event(task, what, now, outcome)
        if event is None:
            continue
        await f.events.emit(event)
        if what in ALERTING:
            await f.alerts.enqueue(event, now=now)
    await f.tasks.save(task, f.policy(task.center_id).at_risk_fraction)


def _happened_event(
    task: Task, what: Happened, now: datetime, outcome: AttemptOutcome | None
) -> Envelope | None:
    ids = {"contact_id": task.contact_id, "followup_id": task.id, "kind": task.kind}
    match what:
        case Happened.DUE:
            data: Any = FollowupDueData(**ids, due_at=task.due_at, attempt_no=task.due_fired)
            return _event(FollowupDue, data, task, now, "due", str(task.due_fired))
        case Happened.SLA_AT_RISK | Happened.SLA_BREACHED:
            cls = FollowupSlaAtRisk if what is Happened.SLA_AT_RISK else FollowupSlaBreached
            return _event(
                cls,
                FollowupSlaData(**ids, deadline_at=task.due_at, observed_at=now),
                task,
                now,
                str(what),
            )
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


async def record_attempt(
    f: Followup, task_id: str, outcome: AttemptOutcome, center_check: Any
) -> Document:
    async with f.locks.hold(task_id):
        doc = await f.tasks.get(task_id)
        if doc is None:
            raise Problem(404, "Unknown follow-up", field="followup_id")
        center_check(doc["center_id"])
        now = f.clock.now()
        try:
            task, happened = attempt(to_task(doc), outcome, now=now)
        except TaskClosed as exc:
            raise Problem(409, "Follow-up is closed", detail=str(exc), field="followup_id") from exc
        await _apply(f, task, happened, now, outcome)
    found = await f.tasks.get(task_id)
    assert found is not None
    return found


def task_out(doc: Document) -> Document:
    return {
        "id": doc["_id"], "contact_id": doc["contact_id"], "center_id": doc["center_id"],
        "kind": doc["kind"], "status": doc["status"], "due_at": doc["due_at"],
        "sla_state": doc["sla_state"], "attempts": doc["attempts"], "max_attempts": doc.get("max_attempts"),
        "policy_version": doc["policy_version"], "created_at": doc["created_at"],
        "first_attempt_at": doc.get("first_attempt_at"),
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
                     cursor: str | None, limit: int, sla_state: str | None = None) -> Document:  # fmt: skip
    query: Document = {"center_id": center_id}
    if status:
        query["status"] = status
    if sla_state:
        query["sla_state"] = sla_state
    if due_before:
        query["due_at"] = {"$lt": due_before}
    if cursor:
        due, last = decode_cursor(cursor)
        query["$or"] = [{"due_at": {"$gt": due}}, {"due_at": due, "_id": {"$gt": last}}]
    found = f.tasks.collection.find(query, {"outbox": 0}).sort(
        [("due_at", ASCENDING), ("_id", ASCENDING)]
    )
    docs = [doc async for doc in found.limit(limit + 1)]
    more = len(docs) > limit
    docs = docs[:limit]
    return {
        "items": [task_out(d) for d in docs],
        "next_cursor": encode_cursor(docs[-1]) if more else None,
    }


async def sla_summary(f: Followup, center_id: str) -> Document:
    tasks = f.tasks.collection
    match = {"center_id": center_id, "status": {"$ne": str(Status.CANCELLED)}}
    by_state = {doc["_id"]: doc["n"] async for doc in await tasks.aggregate(
        [{"$match": match}, {"$group": {"_id": "$sla_state", "n": {"$sum": 1}}}])}  # fmt: skip
    sums = await sum_metrics(tasks, match)
    attempted = int(sums.get("attempted_first", 0))
    median = None
    if attempted:
        middle = tasks.find(
            {**match, "first_attempt_seconds": {"$ne": None}}, {"first_attempt_seconds": 1}
        )
        async for doc in (
            middle.sort("first_attempt_seconds", ASCENDING).skip(attempted // 2).limit(1)
        ):
            median = doc["first_attempt_seconds"]
    closed = sums.get("closed", 0)
    return {
        "center_id": center_id,
        "counts": {
            state: int(by_state.get(state, 0)) for state in ("on-track", "at-risk", "breached")
        },
        "tasks": int(sums.get("tasks", 0)),
        "first_attempt_within_sla_rate": round(sums.get("first_in_sla", 0) / attempted, 4)
        if attempted
        else None,
        "completion_rate": round(sums.get("completed", 0) / closed, 4) if closed else None,
        "lost_to_follow_up_rate": round(sums.get("missed", 0) / closed, 4) if closed else None,
        "median_seconds_to_first_attempt": median,
    }
