"""MongoDB storage of follow-up tasks; the task document is also its durable timer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hotline_shared.events import FollowupKind
from hotline_shared.mongo import Document, metric_entries
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from hotline_followup.domain.policy import TaskSpec
from hotline_followup.domain.task import Sla, Status, Task, next_fire_at, within_sla

COLLECTION = "tasks"
INDEXES = (
    IndexModel([("next_fire_at", ASCENDING)]),
    IndexModel([("center_id", ASCENDING), ("status", ASCENDING), ("due_at", ASCENDING)]),
    IndexModel([("caller_token", ASCENDING), ("kind", ASCENDING)]),
    IndexModel([("cause", ASCENDING)]),
)


def new_task(spec: TaskSpec, spacing: timedelta) -> Task:
    return Task(
        id=spec.id, kind=spec.kind, contact_id=spec.contact_id, center_id=spec.center_id,
        created_at=spec.created_at, window_start=spec.created_at, due_at=spec.due_at,
        max_attempts=spec.max_attempts, spacing=spacing, policy_version=spec.policy_version,
        caller_token=spec.caller_token,
    )  # fmt: skip


def to_task(doc: Document) -> Task:
    return Task(
        id=doc["_id"], kind=FollowupKind(doc["kind"]), contact_id=doc["contact_id"],
        center_id=doc["center_id"], created_at=doc["created_at"], window_start=doc["window_start"],
        due_at=doc["due_at"], max_attempts=doc.get("max_attempts"),
        spacing=timedelta(seconds=doc["spacing_seconds"]), policy_version=doc["policy_version"],
        status=Status(doc["status"]), sla=Sla(doc["sla_state"]), attempts=doc["attempts"],
        first_attempt_at=doc.get("first_attempt_at"), due_fired=doc.get("due_fired", 0),
        caller_token=doc.get("caller_token"),
    )  # fmt: skip


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
        "metrics": metric_entries({
            "tasks": 1, "attempted_first": 1 if first is not None else None,
            "first_in_sla": 1 if first else None, "completed": 1 if task.status is Status.COMPLETED else None,
            "missed": 1 if task.status is Status.MISSED else None,
            "closed": 1 if task.terminal and task.status is not Status.CANCELLED else None,
        }),
    }  # fmt: skip


class TaskStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def create(self, task: Task, *, cause: str, fraction: float, extra: Document) -> bool:
        """Insert keyed by the derived task id: a replayed trigger creates nothing."""
        try:
            await self.collection.insert_one({"_id": task.id, "cause": cause, "lease_until": None,
                                              **task_fields(task, fraction), **extra})  # fmt: skip
        except DuplicateKeyError:
            return False
        return True

    async def get(self, task_id: str) -> Document | None:
        return await self.collection.find_one({"_id": task_id}, {"outbox": 0})

    async def save(self, task: Task, fraction: float, **extra: Any) -> None:
        await self.collection.update_one(
            {"_id": task.id}, {"$set": {**task_fields(task, fraction), **extra}}
        )

    async def due(self, *, now: datetime, limit: int) -> list[Document]:
        """Tasks whose timer is due and whose lease is free or expired, soonest first."""
        cursor = self.collection.find(
            {"next_fire_at": {"$lte": now}, "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]},
            {"_id": 1, "lease_until": 1},
        ).sort("next_fire_at", ASCENDING).limit(limit)  # fmt: skip
        return [doc async for doc in cursor]

    async def take_lease(
        self, candidate: Document, *, now: datetime, owner: str, lease: timedelta
    ) -> Document | None:
        """Lease one task. The lease keeps replicas off each other's work; exactly-once
        *effects* do not rest on it (events are emitted once by id), so a doubled lease
        is harmless."""
        taken = await self.collection.update_one(
            {"_id": candidate["_id"], "lease_until": candidate.get("lease_until")},
            {"$set": {"lease_until": now + lease, "lease_owner": owner}},
        )
        if taken.modified_count != 1:
            return None
        got = await self.collection.find_one({"_id": candidate["_id"]})
        return got if got is not None and got.get("lease_owner") == owner else None
