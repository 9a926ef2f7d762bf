"""Durable timers under load: many pending tasks, a steady stream coming due, replicas, a kill.

Starts --replicas follow-up services, then inserts --pending tasks due far in the future plus
--rate tasks per second coming due for --seconds (the first --lead seconds later), and reads
the followup.due events back. Prints fires/s, lateness (event time - due time) overall and per
5-second window of due times, whether every timer fired exactly once, and, with --kill-after,
when the survivors took over the killed replica's timers; next to the raw aiokafka produce
rate of the same number of events, measured in the same run.

    uv run python bench/followup_timers.py --pending 100000 --rate 1000 --seconds 60 \
        --replicas 2 --kill-after 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from _common import Service, percentile, summary
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from hotline_followup.adapters.tasks import new_task, task_fields
from hotline_followup.domain.policy import TaskSpec
from hotline_followup.domain.task import Sla
from hotline_followup.timers import SHARDS
from hotline_shared.events import FOLLOWUPS_TOPIC, FollowupKind
from hotline_shared.mongo import make_client
from hotline_shared.settings import KafkaSettings, MongoSettings

DUE = "hotline.followup.due.v1"


def task_doc(due_at: datetime, created_at: datetime) -> dict[str, object]:
    spec = TaskSpec(id=str(uuid.uuid4()), kind=FollowupKind.CALLBACK, contact_id=str(uuid.uuid4()),
                    center_id="center-01", created_at=created_at, due_at=due_at, max_attempts=3,
                    policy_version="bench", caller_token=None, cause="bench")  # fmt: skip
    # its at-risk moment has passed: what comes due is `due` (and, at once, the breach)
    task = replace(new_task(spec, spacing=timedelta(minutes=30)), sla=Sla.AT_RISK)
    return {"_id": task.id, "cause": "bench", "version": 1, "outbox": [], **task_fields(task, 0.75)}


async def seed(prefix: str, pending: int, rate: int, seconds: int, start: datetime) -> int:
    client = make_client(MongoSettings())
    tasks = client[f"{prefix}_hotline_followup"]["tasks"]
    far = start + timedelta(days=30)
    docs = [
        task_doc(far + timedelta(seconds=n), start - timedelta(hours=1)) for n in range(pending)
    ]
    due = [start + timedelta(seconds=n / rate) for n in range(rate * seconds)]
    docs += [task_doc(at, at - timedelta(minutes=30)) for at in due]
    for chunk in range(0, len(docs), 5000):
        await tasks.insert_many(docs[chunk : chunk + 5000], ordered=False)
    await client.close()
    return len(due)


async def collect(topic: str, expect: int, timeout: float) -> list[dict[str, object]]:
    """Every due event read back (duplicates included)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=KafkaSettings().bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    events: list[dict[str, object]] = []
    distinct: set[object] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(distinct) < expect and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = json.loads(record.value)
                    if event["type"] == DUE:
                        events.append(event)
                        distinct.add(event["id"])
    finally:
        await consumer.stop()
    return events


def owned_log(service: Service) -> list[tuple[datetime, int]]:
    """(time, shards) each time the replica's timer ownership changed, from its log."""
    lines = service.process.log_path.read_text().splitlines()
    entries = [json.loads(line) for line in lines if '"timers.owned"' in line]
    return [(datetime.fromisoformat(e["timestamp"]), e["shards"]) for e in entries]


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
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--kill-after", type=float, default=None,
                        help="SIGKILL the first replica this many seconds into the due stream")  # fmt: skip
    parser.add_argument(
        "--lead", type=float, default=90, help="seconds from seeding to the first due"
    )
    args = parser.parse_args()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    replicas = [Service("followup", prefix=prefix, replica=n + 1) for n in range(args.replicas)]
    killed_at: datetime | None = None
    try:
        # The replicas run while the tasks are written, as in production (tasks accumulate
        # under running services); they learn of them at their next timer refill.
        for replica in replicas:
            await replica.__aenter__()
        start = datetime.now(UTC) + timedelta(seconds=args.lead)
        seed_started = time.perf_counter()
        due = await seed(prefix, args.pending, args.rate, args.seconds, start)
        print(f"seeded {args.pending} pending + {due} coming due in "
              f"{time.perf_counter() - seed_started:.1f} s, under {args.replicas} running replica(s)")  # fmt: skip
        if datetime.now(UTC) > start:
            print(f"warning: seeding ended {(datetime.now(UTC) - start).total_seconds():.1f} s "
                  f"after the first due time (raise --lead)")  # fmt: skip

        async def kill_later() -> None:
            nonlocal killed_at
            assert args.kill_after is not None
            await asyncio.sleep(
                max(0.0, (start - datetime.now(UTC)).total_seconds() + args.kill_after)
            )
            replicas[0].process.kill()
            killed_at = datetime.now(UTC)

        killer = asyncio.create_task(kill_later()) if args.kill_after is not None else None
        events = await collect(f"{prefix}.{FOLLOWUPS_TOPIC}", due,
                               timeout=args.lead + args.seconds * 10 + 120)  # fmt: skip
        if killer is not None:
            await killer
    finally:
        for replica in replicas:
            await replica.__aexit__()
    distinct = {e["id"]: e for e in events}
    per_task = Counter(e["data"]["followup_id"] for e in distinct.values())  # type: ignore[index]
    lateness: list[float] = []
    windows: dict[int, list[float]] = defaultdict(list)
    for event in distinct.values():
        due_at = datetime.fromisoformat(event["data"]["due_at"])  # type: ignore[index]
        late = (datetime.fromisoformat(event["time"]) - due_at).total_seconds() * 1000  # type: ignore[arg-type]
        lateness.append(late)
        windows[int((due_at - start).total_seconds() // 5) * 5].append(late)
    span = (max(lateness) / 1000 + args.seconds) if lateness else float("nan")
    raw_seconds = await raw_kafka(due, f"{prefix}.raw")
    print(f"follow-up timers: {args.pending} pending, {args.rate}/s coming due for {args.seconds} s, "
          f"{args.replicas} replica(s)")  # fmt: skip
    print(f"fired {len(per_task)} of {due} tasks; each exactly once: {set(per_task.values()) <= {1}}; "
          f"same event published again: {len(events) - len(distinct)}; fires/s over the due window "
          f"{len(per_task) / span:.1f}")  # fmt: skip
    print(f"lateness (fire time - due time): p50 {percentile(lateness, 50):.0f} ms  "
          f"p99 {percentile(lateness, 99):.0f} ms  max {max(lateness, default=float('nan')):.0f} ms")  # fmt: skip
    for window, values in sorted(windows.items()):
        print(f"  due at +{window:3d} s: {len(values):6d} fired, lateness p50 "
              f"{percentile(values, 50):7.0f} ms  p99 {percentile(values, 99):7.0f} ms")  # fmt: skip
    if killed_at is not None:
        print(f"killed replica 1 at +{(killed_at - start).total_seconds():.1f} s")
        for n, replica in enumerate(replicas[1:], start=2):
            after = [(at, shards) for at, shards in owned_log(replica) if at > killed_at]
            for at, shards in after:
                print(f"  replica {n} owned {shards} of {SHARDS} shards "
                      f"{(at - killed_at).total_seconds():.1f} s after the kill")  # fmt: skip
    print(summary("raw ceiling: aiokafka produce, acks=all", due, raw_seconds))


if __name__ == "__main__":
    asyncio.run(main())
