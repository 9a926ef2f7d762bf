"""Durable timers under load: many pending tasks, a steady stream coming due.

Inserts --pending tasks (most due far in the future) plus --rate tasks per second coming
due for --seconds, runs the follow-up service, and reads followup.due events back.
Prints fires/s and lateness p50/p99 (event time - due time), next to the raw aiokafka
produce rate of the same number of events, measured in the same run.

    uv run python bench/followup_timers.py --pending 100000 --rate 1000 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

from _common import Service, percentile, summary
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from hotline_followup.adapters.tasks import new_task, task_fields
from hotline_followup.domain.policy import TaskSpec
from hotline_shared.events import FOLLOWUPS_TOPIC, FollowupKind
from hotline_shared.mongo import make_client
from hotline_shared.settings import KafkaSettings, MongoSettings


def task_doc(due_at: datetime, created_at: datetime) -> dict[str, object]:
    spec = TaskSpec(id=str(uuid.uuid4()), kind=FollowupKind.CALLBACK, contact_id=str(uuid.uuid4()),
                    center_id="center-01", created_at=created_at, due_at=due_at, max_attempts=3,
                    policy_version="bench", caller_token=None, cause="bench")  # fmt: skip
    task = new_task(spec, spacing=timedelta(minutes=30))
    return {
        "_id": task.id,
        "cause": "bench",
        "version": 1,
        "lease_until": None,
        "outbox": [],
        **task_fields(task, 0.75),
    }


async def seed(prefix: str, pending: int, rate: int, seconds: int, start: datetime) -> int:
    client = make_client(MongoSettings())
    tasks = client[f"{prefix}_hotline_followup"]["tasks"]
    far = start + timedelta(days=30)
    docs = [task_doc(far + timedelta(seconds=n), start) for n in range(pending)]
    # the stream coming due: window starts when it is due, so only `due` fires for them
    due = [start + timedelta(seconds=n / rate) for n in range(rate * seconds)]
    docs += [task_doc(at, at - timedelta(microseconds=1)) for at in due]
    for chunk in range(0, len(docs), 5000):
        await tasks.insert_many(docs[chunk : chunk + 5000], ordered=False)
    await client.close()
    return len(due)


async def collect(topic: str, expect: int, timeout: float) -> list[float]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=KafkaSettings().bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    lateness: list[float] = []
    deadline = time.monotonic() + timeout
    try:
        while len(lateness) < expect and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = json.loads(record.value)
                    if event["type"] == "hotline.followup.due.v1":
                        fired = datetime.fromisoformat(event["time"])
                        lateness.append(
                            (
                                fired - datetime.fromisoformat(event["data"]["due_at"])
                            ).total_seconds()
                            * 1000
                        )
    finally:
        await consumer.stop()
    return lateness


async def raw_kafka(messages: int, topic: str) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=KafkaSettings().bootstrap, enable_idempotence=True
    )
    await producer.start()
    start = time.perf_counter()
    try:
        for batch in range(0, messages, 500):
            await asyncio.gather(*(producer.send_and_wait(topic, b"x" * 500, key=str(n).encode())
                                   for n in range(batch, min(messages, batch + 500))))  # fmt: skip
    finally:
        await producer.stop()
    return time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pending", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=200, help="tasks coming due per second")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    service = Service("followup", {"HOTLINE_FOLLOWUP_TIMER_INTERVAL_SECONDS": "0.1",
                                   "HOTLINE_FOLLOWUP_TIMER_BATCH": "500"})  # fmt: skip
    start = datetime.now(UTC) + timedelta(seconds=20)
    seed_started = time.perf_counter()
    due = await seed(service.prefix, args.pending, args.rate, args.seconds, start)
    print(
        f"seeded {args.pending} pending + {due} coming due in {time.perf_counter() - seed_started:.1f} s"
    )
    async with service:
        lateness = await collect(
            f"{service.prefix}.{FOLLOWUPS_TOPIC}", due, timeout=args.seconds * 20 + 120
        )
    window = (max(lateness) / 1000 + args.seconds) if lateness else float("nan")
    raw_seconds = await raw_kafka(due, f"{service.prefix}.raw")
    print(
        f"follow-up timers: {args.pending} pending, {args.rate}/s coming due for {args.seconds} s"
    )
    print(
        f"fired {len(lateness)} of {due}; fires/s over the due window {len(lateness) / window:.1f}"
    )
    print(
        f"lateness (fire time - due time): p50 {percentile(lateness, 50):.0f} ms  p99 {percentile(lateness, 99):.0f} ms"
    )
    print(summary("raw ceiling: aiokafka produce, acks=all", due, raw_seconds))


if __name__ == "__main__":
    asyncio.run(main())
