"""TaskStore: follow-up tasks in MongoDB; the task document is also its durable timer.

Every write is conditional on the task's `version` (a lease too), and carries the events it
causes in the task's outbox, so state and events change together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from hotline_shared.events import AttemptOutcome, Envelope, FollowupKind
from hotline_shared.mongo import Document, Outbox, insert_new, metric_entries, sum_metrics
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from hotline_followup.domain.policy import TaskSpec
from hotline_followup.domain.task import TERMINAL, Sla, Status, Task, next_fire_at, within_sla
from hotline_followup.timers import timer_shard

COLLECTION = "tasks"
INDEXES = (
    IndexModel([("timer_shard", ASCENDING), ("next_fire_at", ASCENDING)]),
    IndexModel([("center_id", ASCENDING), ("status", ASCENDING), ("due_at", ASCENDING)]),
    IndexModel([("caller_token", ASCENDING), ("kind", ASCENDING)]),
    IndexModel([("cause", ASCENDING)]),
    IndexModel([("status", ASCENDING), ("kind", ASCENDING), ("sla_state", ASCENDING)]),
    Outbox.INDEX,
)
NO_OUTBOX = {"outbox": 0}


def new_task(spec: TaskSpec, spacing: timedelta) -> Task:
    return Task(
        id=spec.id, kind=spec.kind, contact_id=spec.contact_id, center_id=spec.center_id,
        created_at=spec.created_at, window_start=spec.created_at, due_at=spec.due_at,
        max_attempts=spec.max_attempts, spacing=spacing, policy_version=spec.policy_version,
        caller_token=spec.caller_token,
        status=Status.NEEDS_NUMBER if spec.needs_number else Status.SCHEDULED,
    )  # fmt: skip


def to_task(doc: Document) -> Task:
    return Task(
        id=doc["_id"], kind=FollowupKind(doc["kind"]), contact_id=doc["contact_id"],
        center_id=doc["center_id"], created_at=doc["created_at"], window_start=doc["window_start"],
        due_at=doc["due_at"], max_attempts=doc.get("max_attempts"),
        spacing=timedelta(seconds=doc["spacing_seconds"]), policy_version=doc["policy_version"],
        status=Status(doc["status"]), sla=Sla(doc["sla_state"]), attempts=doc["attempts"],
        first_attempt_at=doc.get("first_attempt_at"), due_fired=doc.get("due_fired", 0),
        caller_token=doc.get("caller_token"), attempt_keys=tuple(doc.get("attempt_keys", ())),
        first_attempt_in_sla=doc.get("first_attempt_in_sla"),
        last_outcome=AttemptOutcome(doc["last_outcome"]) if doc.get("last_outcome") else None,
        claimed_by=doc.get("claimed_by"), claim_until=doc.get("claim_until"),
        reschedules=doc.get("reschedules", 0),
    )  # fmt: skip


def ended_by(task: Task, outcome: AttemptOutcome) -> bool:
    return task.terminal and task.last_outcome is outcome


def task_fields(task: Task, fraction: float) -> Document:
    first = within_sla(task)
    first_seconds = (
        (task.first_attempt_at - task.created_at).total_seconds() if task.first_attempt_at else None
    )
    return {
        "kind": str(task.kind), "contact_id": task.contact_id, "center_id": task.center_id,
        "created_at": task.created_at, "window_start": task.window_start, "due_at": task.due_at,
        "max_attempts": task.max_attempts, "spacing_seconds": task.spacing.total_seconds(),
        "policy_version": task.policy_version, "status": str(task.status), "sla_state": str(task.sla),
        "attempts": task.attempts, "first_attempt_at": task.first_attempt_at,
        "first_attempt_seconds": first_seconds, "due_fired": task.due_fired,
        "caller_token": task.caller_token, "next_fire_at": next_fire_at(task, fraction),
        "timer_shard": timer_shard(task.id),
        "attempt_keys": list(task.attempt_keys), "first_attempt_in_sla": task.first_attempt_in_sla,
        "last_outcome": str(task.last_outcome) if task.last_outcome else None,
        "claimed_by": task.claimed_by, "claim_until": task.claim_until,
        "reschedules": task.reschedules,
        "metrics": metric_entries({
            "tasks": 1, "attempted_first": 1 if first is not None else None,
            "first_in_sla": 1 if first else None, "completed": 1 if task.status is Status.COMPLETED else None,
            "missed": 1 if task.status is Status.MISSED else None,
            "closed": 1 if task.terminal and task.status is not Status.CANCELLED else None,
            "reached": 1 if ended_by(task, AttemptOutcome.REACHED) else None,
            "declined": 1 if ended_by(task, AttemptOutcome.DECLINED) else None,
        }),
    }  # fmt: skip


def _change(
    task: Task,
    *,
    fraction: float,
    events: list[Envelope],
    now: datetime,
    log: Document | None = None,
    mark: Document | None = None,
) -> Document:
    change: Document = {
        "$set": {**task_fields(task, fraction), **(mark or {})},
        "$inc": {"version": 1},
    }
    if log is not None:
        change["$push"] = {"attempt_log": log}
    return Outbox.update(change, events, now)


class TaskStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def create(
        self, task: Task, *, cause: str, fraction: float, events: list[Envelope], now: datetime
    ) -> bool:
        """Insert keyed by the derived task id, with its events: a replayed trigger creates
        nothing."""
        return await insert_new(self.collection, {
            "_id": task.id, "cause": cause, "version": 1,
            **task_fields(task, fraction), **Outbox.fields(events, now),
        })  # fmt: skip

    async def get(self, task_id: str) -> Document | None:
        return await self.collection.find_one({"_id": task_id}, NO_OUTBOX)

    async def save(
        self, task: Task, *, version: int, fraction: float, events: list[Envelope], now: datetime,
        log: Document | None = None,
    ) -> bool:  # fmt: skip
        """Store the task and its events if still at `version`; `log` is the record of the
        attempt this write makes (appended to `attempt_log`)."""
        result = await self.collection.update_one(
            {"_id": task.id, "version": version},
            _change(task, fraction=fraction, events=events, now=now, log=log),
        )
        return result.modified_count == 1

    async def save_many(
        self, saves: list[tuple[Task, int, list[Envelope]]], *, fraction: dict[str, float],
        now: datetime, writer: str,
    ) -> int:  # fmt: skip
        """`save` of many tasks (task, version read, events) in one unordered bulk write,
        each marked `written_by` this `writer`; how many were still at their version (the
        others are left as the winner wrote them)."""
        if not saves:
            return 0
        result = await self.collection.bulk_write(
            [UpdateOne({"_id": task.id, "version": version},
                       _change(task, fraction=fraction[task.center_id], events=events, now=now,
                               mark={"written_by": writer}))
             for task, version, events in saves],
            ordered=False,
        )  # fmt: skip
        return result.modified_count

    async def backfill_shards(self) -> int:
        """Give tasks stored before timers were sharded their `timer_shard`: once per
        database (a marker records it), not a query over every task at each start."""
        migrations = self.collection.database["migrations"]
        if await migrations.find_one({"_id": "tasks.timer_shard"}):
            return 0
        cursor = self.collection.find({"timer_shard": {"$exists": False}}, {"_id": 1})
        ops = [UpdateOne({"_id": doc["_id"]}, {"$set": {"timer_shard": timer_shard(doc["_id"])}})
               async for doc in cursor]  # fmt: skip
        if ops:
            await self.collection.bulk_write(ops, ordered=False)
        await insert_new(migrations, {"_id": "tasks.timer_shard"})
        return len(ops)

    async def many(self, task_ids: list[str]) -> list[Document]:
        cursor = self.collection.find({"_id": {"$in": task_ids}}, NO_OUTBOX)
        return [doc async for doc in cursor]

    async def due_soon(self, shards: Sequence[int], until: datetime) -> list[tuple[str, datetime]]:
        """The timers of these shards that come due by `until` (overdue ones included)."""
        cursor = self.collection.find(
            {"timer_shard": {"$in": list(shards)}, "next_fire_at": {"$lte": until}},
            {"_id": 1, "next_fire_at": 1},
        )
        return [(doc["_id"], doc["next_fire_at"]) async for doc in cursor]

    async def by_cause(self, cause: str, kind: str) -> Document | None:
        return await self.collection.find_one({"cause": cause, "kind": kind}, NO_OUTBOX)

    async def open_callbacks(self, center_id: str, caller_token: str) -> list[Document]:
        cursor = self.collection.find(
            {"caller_token": caller_token, "kind": "callback", "center_id": center_id,
             "attempts": 0, "status": {"$in": [str(Status.SCHEDULED), str(Status.DUE)]}},
            NO_OUTBOX,
        )  # fmt: skip
        return [doc async for doc in cursor]

    async def page(self, query: Document, limit: int) -> list[Document]:
        cursor = self.collection.find(query, NO_OUTBOX).sort(
            [("due_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [doc async for doc in cursor.limit(limit)]

    async def open_by_kind_and_sla(self) -> dict[tuple[str, str], int]:
        """Tasks not yet closed, by kind and SLA state (a gauge)."""
        pipeline: list[Document] = [
            # $in the open statuses, not $nin the closed: an index range read of the open
            # tasks, where $nin reads every task the retention period keeps
            {"$match": {"status": {"$in": [str(s) for s in Status if s not in TERMINAL]}}},
            {"$group": {"_id": {"kind": "$kind", "sla": "$sla_state"}, "n": {"$sum": 1}}},
        ]
        cursor = await self.collection.aggregate(pipeline)
        return {(doc["_id"]["kind"], doc["_id"]["sla"]): doc["n"] async for doc in cursor}

    async def count_by_sla_state(self, match: Document) -> dict[str, int]:
        pipeline = [{"$match": match}, {"$group": {"_id": "$sla_state", "n": {"$sum": 1}}}]
        return {doc["_id"]: doc["n"] async for doc in await self.collection.aggregate(pipeline)}

    async def metric_sums(self, match: Document) -> dict[str, float]:
        return await sum_metrics(self.collection, match)

    async def median_first_attempt_seconds(self, match: Document, attempted: int) -> float | None:
        cursor = self.collection.find(
            {**match, "first_attempt_seconds": {"$ne": None}}, {"first_attempt_seconds": 1}
        ).sort("first_attempt_seconds", ASCENDING)
        async for doc in cursor.skip(attempted // 2).limit(1):
            return float(doc["first_attempt_seconds"])
        return None


class AnsweredCallers:
    """When each caller (by token) last got through to a counselor, per center."""

    COLLECTION = "answered_callers"

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[self.COLLECTION]

    async def last_answered(self, center_id: str, caller_token: str) -> Document | None:
        return await self.collection.find_one({"_id": f"{center_id}:{caller_token}"})

    async def record(self, current: Document | None, center_id: str, caller_token: str,
                     at: datetime) -> bool:  # fmt: skip
        """Insert, or move `last_answered_at` if unchanged since read; False on a race."""
        if current is None:
            return await insert_new(self.collection, {"_id": f"{center_id}:{caller_token}",
                                                      "version": 1, "last_answered_at": at})  # fmt: skip
        result = await self.collection.update_one(
            {"_id": current["_id"], "version": current.get("version", 1)},
            {"$set": {"last_answered_at": at}, "$inc": {"version": 1}},
        )
        return result.modified_count == 1
