"""Follow-up against the real stack: timers across replicas, a replica killed, replay."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from hotline_followup.adapters.tasks import TaskStore, new_task
from hotline_followup.domain.policy import TaskSpec
from hotline_followup.timers import SHARDS
from hotline_shared.events import (
    CONTACTS_TOPIC,
    RISK_TOPIC,
    SESSIONS_TOPIC,
    FollowupKind,
    RiskEscalated,
    RiskEscalatedData,
    SessionClosed,
    SessionClosedData,
    new_event,
)  # fmt: skip
from hotline_shared.kafka import EventBus
from hotline_shared.mongo import Document
from hotline_shared.settings import KafkaSettings
from pymongo.asynchronous.database import AsyncDatabase

from tests.conftest import token_for
from tests.integration.followup.support import CENTER, Stack, abandoned, centers_file, first_task
from tests.support import ServiceProcess, unique, wait_until

pytestmark = pytest.mark.integration

SUPERVISOR = {"Authorization": f"Bearer {token_for('supervisor', [CENTER], 'supervisor-2')}"}


def due_counts(events: list[dict[str, Any]]) -> Counter[str]:
    """Distinct due events per task. Delivery is at least once: two flushes of one task's
    outbox racing may both publish an event, with the same id, which consumers dedupe; a
    timer firing twice would make a second, distinct event."""
    distinct = {e["id"]: e for e in events if e["type"] == "hotline.followup.due.v1"}
    return Counter(e["data"]["followup_id"] for e in distinct.values())


@pytest.mark.slow
async def test_two_replicas_fire_a_thousand_timers_each_exactly_once(
    stack: Stack, upstream: EventBus
) -> None:
    for replica in (stack.replica(), stack.replica()):
        replica.start()
        await replica.wait_ready()
    for n in range(1000):
        await upstream.publish(abandoned(n))

    async def all_due() -> list[dict[str, Any]] | None:
        events = await stack.followup_events(settle=0.5)
        return events if len(due_counts(events)) >= 1000 else None

    await wait_until(all_due, timeout=300, what="1000 followup.due events")
    events = await stack.followup_events(settle=3.0)  # and nothing more arrives
    counts = due_counts(events)
    assert len(counts) == 1000 and set(counts.values()) == {1}
    assert {r.proc.pid for r in stack.replicas if r.proc} and len(stack.replicas) == 2


def owned_shards(replica: ServiceProcess) -> list[int]:
    """The shard counts a replica logged each time its timer ownership changed."""
    lines = replica.log_path.read_text().splitlines() if replica.log_path.exists() else []
    logged = [json.loads(line) for line in lines if '"timers.owned"' in line]
    return [entry["shards"] for entry in logged]


@pytest.mark.slow
async def test_a_killed_replicas_timers_are_taken_over_by_the_survivor(
    stack: Stack, followup_db: AsyncDatabase[Document]
) -> None:
    store = TaskStore(followup_db["tasks"])
    due_at = datetime.now(UTC) + timedelta(seconds=40)  # after both replicas own their shards
    for n in range(300):
        spec = TaskSpec(id=unique("task-"), kind=FollowupKind.CALLBACK, contact_id=unique("c-"),
                        center_id=CENTER, created_at=due_at - timedelta(seconds=1), due_at=due_at,
                        max_attempts=3, policy_version="p1", caller_token=f"tok{n}", cause=f"k{n}")  # fmt: skip
        await store.create(new_task(spec, spacing=timedelta(minutes=30)), cause=spec.cause,
                           fraction=0.75, events=[], now=spec.created_at)  # fmt: skip
    first = stack.replica()
    first.start()
    await first.wait_ready()
    await wait_until(lambda: owned_shards(first)[-1:] == [SHARDS], timeout=60, what="all shards")
    second = stack.replica()
    second.start()
    await second.wait_ready()

    def split() -> bool:  # the group rebalanced: each replica owns part of the shards
        return (
            0 < (owned_shards(first) or [0])[-1] < SHARDS and (owned_shards(second) or [0])[-1] > 0
        )

    await wait_until(split, timeout=60, what="the shards split between the replicas")
    assert datetime.now(UTC) < due_at, "the replicas took too long to start for this test"
    first.kill()  # SIGKILL, before any of its timers came due

    async def all_due() -> list[dict[str, Any]] | None:
        events = await stack.followup_events(settle=0.5)
        return events if len(due_counts(events)) >= 300 else None

    events = await wait_until(all_due, timeout=180, what="300 followup.due events")
    counts = due_counts(events)
    assert len(counts) == 300 and set(counts.values()) == {1}
    assert owned_shards(second)[-1] == SHARDS  # it took over the dead replica's shards


async def test_replaying_the_three_input_topics_from_zero_creates_no_task(
    stack: Stack, upstream: EventBus, followup_db: AsyncDatabase[Document]
) -> None:
    first = stack.replica()
    first.start()
    await first.wait_ready()
    now = datetime.now(UTC)
    for n in range(20):
        await upstream.publish(abandoned(n))
    for _ in range(10):
        contact_id = unique("esc-")
        await upstream.publish(new_event(RiskEscalated, data=RiskEscalatedData(
            contact_id=contact_id, escalation_id=f"e-{contact_id}", reason="attempt-in-progress",
            escalated_by="c7", escalated_at=now), center_id=CENTER, source="hotline/intake", time=now,
            cause=(contact_id,)))  # fmt: skip
        await upstream.publish(new_event(SessionClosed, data=SessionClosedData(
            contact_id=contact_id, session_id=f"s-{contact_id}", disposition="resolved", risk_level="high",
            escalated=True, followup_consent=True, caring_contacts_consent=True, closed_by="c7",
            closed_at=now), center_id=CENTER, source="hotline/sessions", time=now, cause=(contact_id,)))  # fmt: skip
    expected = 20 + 10 * (1 + 1)  # callbacks; per escalation: EMS, safety follow-up
    series = 10  # and one caring-contacts series per close (a scheduled event each)

    async def created() -> bool:
        tasks = await followup_db["tasks"].count_documents({})
        return (
            tasks >= expected and await followup_db["caring_series"].count_documents({}) >= series
        )

    await wait_until(created, timeout=120, what=f"{expected} tasks")

    replay = stack.replica(HOTLINE_FOLLOWUP_GROUP_ID=unique("replay-"))
    replay.start()
    await replay.wait_ready()
    group = replay.env["HOTLINE_FOLLOWUP_GROUP_ID"]
    for topic in (CONTACTS_TOPIC, RISK_TOPIC, SESSIONS_TOPIC):
        await wait_until(lambda t=topic: caught_up(stack.kafka, f"{group}.{t}", stack.kafka.topic_prefix + t),
                         timeout=120, what=f"replay of {topic}")  # fmt: skip
    assert await followup_db["tasks"].count_documents({}) == expected
    assert await followup_db["caring_series"].count_documents({}) == series
    scheduled = [
        e for e in await stack.followup_events() if e["type"] == "hotline.followup.scheduled.v1"
    ]
    assert len(scheduled) == len({e["id"] for e in scheduled}) == expected + series


async def caught_up(kafka: KafkaSettings, group: str, topic: str) -> bool:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())
        ]
        if not partitions:
            await consumer._client.force_metadata_update()  # first look at the topic
            partitions = [
                TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())
            ]
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            if ends[tp] and (await consumer.committed(tp) or 0) < ends[tp]:
                return False
        return bool(partitions)
    finally:
        await consumer.stop()


async def test_work_queue_attempts_and_sla_views(stack: Stack, upstream: EventBus) -> None:
    replica = stack.replica()
    replica.start()
    await replica.wait_ready()
    for n in range(3):
        await upstream.publish(abandoned(n))
    async with httpx.AsyncClient(base_url=replica.url, headers=SUPERVISOR, timeout=10) as client:

        async def three() -> list[Any] | None:
            page = (
                await client.get("/v1/followups", params={"center_id": CENTER, "limit": 2})
            ).json()
            return page if page["items"] and page["next_cursor"] else None

        page = await wait_until(three, timeout=60, what="work queue")
        rest = (
            await client.get(
                "/v1/followups", params={"center_id": CENTER, "cursor": page["next_cursor"]}
            )
        ).json()
        items = page["items"] + rest["items"]
        assert len(items) == 3 and [i["due_at"] for i in items] == sorted(
            i["due_at"] for i in items
        )
        task_id = items[0]["id"]
        done = await client.post(f"/v1/followups/{task_id}/attempts", json={"outcome": "reached"})
        again = await client.post(f"/v1/followups/{task_id}/attempts", json={"outcome": "reached"})
        bad = await client.post(
            f"/v1/followups/{items[1]['id']}/attempts", json={"outcome": "ghosted"}
        )
        unknown = await client.post("/v1/followups/nope/attempts", json={"outcome": "reached"})
        summary = (await client.get("/v1/sla/summary", params={"center_id": CENTER})).json()
        breaches = (await client.get("/v1/sla/breaches", params={"center_id": CENTER})).json()
        wrong_center = await client.get("/v1/sla/summary", params={"center_id": "center-02"})
    assert done.status_code == 201 and done.json()["status"] == "completed"
    assert again.status_code == 409 and unknown.status_code == 404
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "outcome"
    assert summary["tasks"] == 3 and sum(summary["counts"].values()) == 3
    callbacks = summary["by_kind"]["callback"]  # follow-up KPIs split by task kind
    assert (callbacks["scheduled"], callbacks["reached"], callbacks["declined"]) == (3, 1, 0)
    assert callbacks["lost_to_follow_up"] == 0 and callbacks["completion_rate"] == 1.0
    assert summary["by_kind"]["safety-follow-up"]["scheduled"] == 0
    assert summary["median_seconds_to_first_attempt"] is not None
    assert all(b["sla_state"] == "breached" for b in breaches["items"])
    assert wrong_center.status_code == 404  # another center's work is unknown here


async def test_twenty_concurrent_attempts_on_one_task_from_two_replicas_are_all_kept(
    stack: Stack, upstream: EventBus, followup_db: AsyncDatabase[Document]
) -> None:
    """Every attempt answered 201 is counted in the task (and announced once); the others
    were refused (409 once the task closed, or 503 busy), while both replicas' timers run."""
    replicas = [stack.replica(), stack.replica()]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        await replica.wait_ready()
    event = abandoned(1)
    await upstream.publish(event)

    async def task() -> Document | None:
        return await followup_db["tasks"].find_one({"contact_id": event.data.contact_id})

    task_id = (await wait_until(task, timeout=60, what="callback task"))["_id"]
    clients = [httpx.AsyncClient(base_url=r.url, headers=SUPERVISOR, timeout=30) for r in replicas]
    try:
        responses = await asyncio.gather(*(
            clients[n % 2].post(f"/v1/followups/{task_id}/attempts", json={"outcome": "no-answer"})
            for n in range(20)
        ))  # fmt: skip
    finally:
        for client in clients:
            await client.aclose()
    codes = [r.status_code for r in responses]
    assert set(codes) <= {201, 409, 503}, codes
    final = await followup_db["tasks"].find_one({"_id": task_id})
    assert final is not None and final["attempts"] == codes.count(201) >= 1
    attempted = [e for e in await stack.followup_events(expect=1)
                 if e["type"] == "hotline.followup.attempted.v1" and e["data"]["followup_id"] == task_id]  # fmt: skip
    assert sorted({e["data"]["attempt_no"] for e in attempted}) == list(
        range(1, codes.count(201) + 1)
    )


async def test_a_retried_attempt_with_the_same_idempotency_key_is_counted_once(
    stack: Stack, upstream: EventBus, followup_db: AsyncDatabase[Document]
) -> None:
    replica = stack.replica()
    replica.start()
    await replica.wait_ready()
    event = abandoned(7)
    await upstream.publish(event)

    async def task() -> Document | None:
        return await followup_db["tasks"].find_one({"contact_id": event.data.contact_id})

    task_id = (await wait_until(task, timeout=60, what="callback task"))["_id"]
    url = f"/v1/followups/{task_id}/attempts"
    async with httpx.AsyncClient(base_url=replica.url, headers=SUPERVISOR, timeout=30) as client:
        key = {"Idempotency-Key": "attempt-1"}
        first = await client.post(url, json={"outcome": "no-answer"}, headers=key)
        retried = await asyncio.gather(
            *(client.post(url, json={"outcome": "no-answer"}, headers=key) for _ in range(5))
        )
        second = await client.post(
            url, json={"outcome": "no-answer"}, headers={"Idempotency-Key": "attempt-2"}
        )
    assert first.status_code == 201 and first.json()["attempts"] == 1
    assert [r.status_code for r in retried] == [201] * 5
    assert {r.json()["attempts"] for r in retried} == {1}
    assert second.status_code == 201 and second.json()["attempts"] == 2
    attempted = [e for e in await stack.followup_events(expect=1)
                 if e["type"] == "hotline.followup.attempted.v1" and e["data"]["followup_id"] == task_id]  # fmt: skip
    # one event per attempt: delivery is at least once (the replayed requests flush the
    # outbox too, and two flushes may both publish before either clears it), so events are
    # counted by their deterministic ids, as every consumer's inbox counts them
    by_id = {e["id"]: e["data"]["attempt_no"] for e in attempted}
    assert sorted(by_id.values()) == [1, 2]


async def test_attempts_are_held_to_the_centers_calling_hours_across_a_time_zone_boundary(
    stack: Stack, upstream: EventBus, followup_db: AsyncDatabase[Document], tmp_path: Any
) -> None:
    """A center twelve hours ahead of UTC, closed right now: the callback (and the next
    attempt after a no-answer) are due when it opens, on its own calendar day."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Pacific/Auckland")
    local = datetime.now(zone)
    # a one-hour window, closed now, at least two hours away (today or tomorrow), within a day
    hour = next(h for k in range(2, 24) if (h := (local.hour + k) % 24) <= 22)
    opens = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    hours = f"{hour:02d}:00-{hour + 1:02d}:00"
    center = centers_file(tmp_path, timezone="Pacific/Auckland", calling_hours=hours)
    replica = stack.replica(
        HOTLINE_CENTERS_FILE=str(center), HOTLINE_FOLLOWUP_POLICY_PROFILE="default"
    )
    replica.start()
    await replica.wait_ready()
    event = abandoned(11)
    await upstream.publish(event)
    made = await first_task(followup_db, event.data.contact_id)

    def inside(due: datetime) -> bool:
        at = due.astimezone(zone)
        return at.hour == opens.hour and due > datetime.now(UTC) + timedelta(minutes=30)

    assert inside(made["due_at"]), (made["due_at"], hours)
    async with httpx.AsyncClient(base_url=replica.url, headers=SUPERVISOR, timeout=30) as client:
        tried = await client.post(
            f"/v1/followups/{made['_id']}/attempts", json={"outcome": "no-answer"}
        )
    assert tried.status_code == 201
    assert inside(datetime.fromisoformat(tried.json()["due_at"]))


async def test_a_claimed_task_is_the_holders_until_released_and_an_agreed_time_keeps_calling_hours(
    stack: Stack, upstream: EventBus, followup_db: AsyncDatabase[Document], tmp_path: Any
) -> None:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    center = centers_file(tmp_path, timezone="America/Los_Angeles", calling_hours="09:00-21:00")
    replica = stack.replica(
        HOTLINE_CENTERS_FILE=str(center), HOTLINE_FOLLOWUP_POLICY_PROFILE="default"
    )
    replica.start()
    await replica.wait_ready()
    event = abandoned(12)
    await upstream.publish(event)
    task_id = (await first_task(followup_db, event.data.contact_id))["_id"]
    ana = {"Authorization": f"Bearer {token_for('counselor', [CENTER], 'ana')}"}
    ben = {"Authorization": f"Bearer {token_for('counselor', [CENTER], 'ben')}"}
    base = f"/v1/followups/{task_id}"
    la = ZoneInfo("America/Los_Angeles")
    tomorrow = datetime.now(la).date() + timedelta(days=1)
    evening = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 18, 0, tzinfo=la)  # 6 pm
    night = evening.replace(hour=23)
    async with httpx.AsyncClient(base_url=replica.url, timeout=30) as client:
        claimed = await client.post(f"{base}/claim", headers=ana)
        queue = (
            await client.get("/v1/followups", params={"center_id": CENTER}, headers=ben)
        ).json()
        stolen = await client.post(f"{base}/attempts", json={"outcome": "no-answer"}, headers=ben)
        not_yours = await client.post(f"{base}/release", headers=ben)
        outside = await client.post(f"{base}/schedule", json={"at": night.isoformat()}, headers=ana)
        agreed = await client.post(
            f"{base}/schedule", json={"at": evening.isoformat()}, headers=ana
        )
        released = await client.post(f"{base}/release", headers=ana)
        by_ben = await client.post(f"{base}/attempts", json={"outcome": "no-answer"}, headers=ben)
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "ana"
    assert [i["claimed_by"] for i in queue["items"] if i["id"] == task_id] == ["ana"]
    assert stolen.status_code == 409 and stolen.json()["claimed_by"] == "ana"
    assert not_yours.status_code == 409
    assert outside.status_code == 422 and outside.json()["errors"][0]["field"] == "at"
    assert agreed.status_code == 200
    assert datetime.fromisoformat(agreed.json()["due_at"]) == evening
    assert released.status_code == 200 and released.json()["claimed_by"] is None
    assert by_ben.status_code == 201 and by_ben.json()["attempts"] == 1
