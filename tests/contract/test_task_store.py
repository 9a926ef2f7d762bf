"""TaskStore (follow-up) against the real database: each write conditional on the version."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from hotline_followup.adapters.tasks import INDEXES, TaskStore, new_task, to_task
from hotline_followup.domain.policy import TaskSpec
from hotline_followup.domain.task import attempt, fire
from hotline_shared.events import AttemptOutcome, FollowupKind
from hotline_shared.mongo import Document, Outbox, ensure_indexes
from pymongo.asynchronous.database import AsyncDatabase

from tests.factories import T0, sample_event

pytestmark = pytest.mark.integration
H = timedelta(hours=1)


def spec(n: int = 1, kind: FollowupKind = FollowupKind.CALLBACK) -> TaskSpec:
    return TaskSpec(id=f"task-{n}", kind=kind, contact_id=f"c-{n}", center_id="center-01",
                    created_at=T0, due_at=T0 + H, max_attempts=3, policy_version="p1",
                    caller_token="tok", cause=f"cause-{n}")  # fmt: skip


@pytest.fixture
async def store(db: AsyncDatabase[Document]) -> TaskStore:
    await ensure_indexes(db, {"tasks": INDEXES})
    return TaskStore(db["tasks"])


def scheduled() -> list:  # type: ignore[type-arg]
    return [sample_event("hotline.followup.scheduled.v1", id="sched-1")]


async def test_a_task_is_created_once_with_its_event_pending(store: TaskStore) -> None:
    task = new_task(spec(), spacing=H)
    created = await asyncio.gather(
        *(
            store.create(task, cause="x", fraction=0.75, events=scheduled(), now=T0)
            for _ in range(10)
        )
    )
    assert created.count(True) == 1
    raw = await store.collection.find_one({"_id": task.id})
    assert raw is not None and raw["version"] == 1 and len(raw["outbox"]) == 1
    assert raw[Outbox.SINCE] == T0
    assert to_task(raw) == task


async def test_a_save_from_a_stale_read_is_refused(store: TaskStore) -> None:
    task = new_task(spec(), spacing=H)
    await store.create(task, cause="x", fraction=0.75, events=[], now=T0)
    tried, _ = attempt(task, AttemptOutcome.NO_ANSWER, now=T0 + timedelta(minutes=5))
    assert await store.save(tried, version=1, fraction=0.75, events=[], now=T0)
    fired, _ = fire(task, now=T0 + H, fraction=0.75)  # computed from the version-1 read
    assert not await store.save(fired, version=1, fraction=0.75, events=[], now=T0)
    doc = await store.get(task.id)
    assert doc is not None and doc["version"] == 2 and doc["attempts"] == 1


async def test_one_of_many_replicas_takes_a_lease(store: TaskStore) -> None:
    task = new_task(spec(), spacing=H)
    await store.create(task, cause="x", fraction=0.75, events=[], now=T0)
    [candidate] = await store.due(now=T0 + 2 * H, limit=10)
    leases = await asyncio.gather(*(
        store.take_lease(candidate, now=T0 + 2 * H, owner=f"r{n}", lease=timedelta(seconds=30))
        for n in range(20)
    ))  # fmt: skip
    taken = [lease for lease in leases if lease is not None]
    assert len(taken) == 1 and taken[0]["version"] == 2
    assert await store.due(now=T0 + 2 * H, limit=10) == []  # leased: not due for others
    assert [d["_id"] for d in await store.due(now=T0 + 3 * H, limit=10)] == [task.id]  # expired


async def test_a_save_frees_the_lease_and_queues_its_events(store: TaskStore) -> None:
    task = new_task(spec(), spacing=H)
    await store.create(task, cause="x", fraction=0.75, events=[], now=T0)
    [candidate] = await store.due(now=T0 + 2 * H, limit=10)
    leased = await store.take_lease(
        candidate, now=T0 + 2 * H, owner="r1", lease=timedelta(seconds=30)
    )
    assert leased is not None
    fired, _ = fire(to_task(leased), now=T0 + 2 * H, fraction=0.75)
    due = [sample_event("hotline.followup.due.v1", id="due-1")]
    assert await store.save(fired, version=leased["version"], fraction=0.75, events=due, now=T0)
    raw = await store.collection.find_one({"_id": task.id})
    assert raw is not None and raw["lease_until"] is None and len(raw["outbox"]) == 1


async def test_due_timers_come_soonest_first(store: TaskStore) -> None:
    for n in (3, 1, 2):
        s = spec(n)
        task = new_task(TaskSpec(**{**s.__dict__, "due_at": T0 + n * H}), spacing=H)
        await store.create(task, cause="x", fraction=1.0, events=[], now=T0)
    due = await store.due(now=T0 + 10 * H, limit=10)
    assert [d["_id"] for d in due] == ["task-1", "task-2", "task-3"]


async def test_open_callbacks_and_lookup_by_cause(store: TaskStore) -> None:
    await store.create(
        new_task(spec(1), spacing=H), cause="esc-1", fraction=0.75, events=[], now=T0
    )
    ems = new_task(spec(2, FollowupKind.EMS_CONFIRMATION), spacing=H)
    await store.create(ems, cause="esc-2", fraction=0.75, events=[], now=T0)
    assert [d["_id"] for d in await store.open_callbacks("center-01", "tok")] == ["task-1"]
    assert await store.open_callbacks("center-02", "tok") == []
    found = await store.by_cause("esc-2", "ems-confirmation")
    assert found is not None and found["_id"] == "task-2"
