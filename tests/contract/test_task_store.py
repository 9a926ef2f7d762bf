"""TaskStore (follow-up) against the real database: each write conditional on the version."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from hotline_followup.adapters.tasks import INDEXES, TaskStore, new_task, to_task
from hotline_followup.domain.policy import TaskSpec
from hotline_followup.domain.task import Sla, Status, attempt, fire
from hotline_followup.timers import SHARDS, timer_shard
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


async def test_timers_load_by_shard_up_to_a_time(store: TaskStore) -> None:
    for n in (1, 2, 3):
        s = spec(n)
        task = new_task(TaskSpec(**{**s.__dict__, "due_at": T0 + n * H}), spacing=H)
        await store.create(task, cause="x", fraction=1.0, events=[], now=T0)
    shards = sorted({timer_shard(f"task-{n}") for n in (1, 2, 3)})
    loaded = dict(await store.due_soon(shards, T0 + 2 * H))
    assert loaded == {"task-1": T0 + H, "task-2": T0 + 2 * H}
    others = [s for s in range(SHARDS) if s not in shards]
    assert await store.due_soon(others, T0 + 10 * H) == []
    await store.collection.update_many({}, {"$unset": {"timer_shard": ""}})  # stored before
    assert await store.backfill_shards() == 3
    assert dict(await store.due_soon(shards, T0 + 2 * H)) == loaded
    assert await store.backfill_shards() == 0


async def test_a_batch_of_fires_stores_only_the_tasks_still_at_their_version(
    store: TaskStore,
) -> None:
    tasks = [new_task(spec(n), spacing=H) for n in range(4)]
    for task in tasks:
        await store.create(task, cause="x", fraction=0.75, events=[], now=T0)
    tried, _ = attempt(tasks[2], AttemptOutcome.NO_ANSWER, now=T0 + timedelta(minutes=5))
    assert await store.save(tried, version=1, fraction=0.75, events=[], now=T0)  # a race won
    saves = []
    for n, task in enumerate(tasks):
        fired, _ = fire(task, now=T0 + 2 * H, fraction=0.75)
        saves.append((fired, 1, [sample_event("hotline.followup.due.v1", id=f"due-{n}")]))
    assert await store.save_many(saves, fraction={"center-01": 0.75}, now=T0, writer="w") == 3
    docs = {d["_id"]: d for d in await store.collection.find({}).to_list()}
    assert [len(docs[f"task-{n}"]["outbox"]) for n in range(4)] == [1, 1, 0, 1]
    assert docs["task-2"]["attempts"] == 1 and docs["task-0"]["status"] == "due"
    assert await store.save_many([], fraction={}, now=T0, writer="w") == 0


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


async def test_the_open_tasks_gauge_counts_every_open_status_and_no_closed_one(
    store: TaskStore,
) -> None:
    kinds = [FollowupKind.CALLBACK, FollowupKind.SAFETY_FOLLOW_UP]
    for n, status in enumerate(Status):
        for k, kind in enumerate(kinds):
            task = replace(new_task(spec(10 * n + k, kind), spacing=H), status=status,
                           sla=Sla.AT_RISK if k else Sla.ON_TRACK)  # fmt: skip
            await store.create(task, cause=f"gauge-{n}-{k}", fraction=0.75, events=[], now=T0)
    open_statuses = {"needs-number", "scheduled", "due", "attempted"}
    assert {str(s) for s in Status} - open_statuses == {"completed", "missed", "cancelled"}
    assert await store.open_by_kind_and_sla() == {
        (str(FollowupKind.CALLBACK), str(Sla.ON_TRACK)): len(open_statuses),
        (str(FollowupKind.SAFETY_FOLLOW_UP), str(Sla.AT_RISK)): len(open_statuses),
    }
