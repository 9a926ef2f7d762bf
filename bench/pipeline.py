"""The whole pipeline: telephony webhook → intake → Kafka → follow-up → task stored.

Each simulated caller abandons a Twilio queue (signed callbacks: in-progress, hangup,
completed); the latency is from the first webhook to the callback task being stored in
follow-up's database. Measured at a fixed offered rate and at saturation; in the same
run the raw ceiling: aiokafka produce→consume of the same number of events, and PyMongo
bulk writes of the same number of documents to the same database.

    uv run python bench/pipeline.py --contacts 200 --rate 5
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlencode

import httpx
from _common import Service, summary
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from hotline_shared import twilio as signatures
from hotline_shared.ids import contact_id_for, derive_id
from hotline_shared.mongo import make_client
from hotline_shared.settings import KafkaSettings, MongoSettings

CENTER, TOKEN = "center-01", "dev-twilio-token-center-01"


async def caller(client: httpx.AsyncClient, url: str, n: int) -> tuple[str, float]:
    sid = f"CA{uuid.uuid4().hex}"
    base = {
        "CallSid": sid,
        "AccountSid": "AC1",
        "From": f"+1555{n:07d}",
        "To": "+18005551212",
        "Direction": "inbound",
    }
    forms = [
        {
            **base,
            "CallStatus": "in-progress",
            "SequenceNumber": "0",
            "Timestamp": format_datetime(datetime.now(UTC)),
        },
        {
            **base,
            "CallStatus": "in-progress",
            "QueueResult": "hangup",
            "QueueSid": "QU1",
            "QueueTime": "40",
        },
        {
            **base,
            "CallStatus": "completed",
            "SequenceNumber": "1",
            "Timestamp": format_datetime(datetime.now(UTC)),
        },
    ]
    started = time.perf_counter()
    for form in forms:
        headers = {"X-Twilio-Signature": signatures.signature(TOKEN, url, form),
                   "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
        for _ in range(20):  # as Twilio does: retry a failed webhook
            try:
                if (
                    await client.post(url, content=urlencode(form), headers=headers)
                ).status_code < 500:
                    break
            except httpx.TransportError:
                pass  # a keep-alive connection the server had just closed
            await asyncio.sleep(0.5)
    return derive_id("followup", "callback", contact_id_for("center-01", "twilio", sid)), started


async def watch(
    database: str, expected: dict[str, float], done: asyncio.Event, timeout: float
) -> dict[str, float]:
    """Poll follow-up's tasks while callers are still coming, until every expected task is
    stored; returns the latency of each in ms (first webhook -> task seen)."""
    client = make_client(MongoSettings())
    tasks = client[database]["tasks"]
    latency: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not (done.is_set() and len(latency) >= len(expected)):
            pending = [i for i in list(expected) if i not in latency]
            now = time.perf_counter()
            async for doc in tasks.find({"_id": {"$in": pending[:500]}}, {"_id": 1}):
                latency[doc["_id"]] = (now - expected[doc["_id"]]) * 1000
            await asyncio.sleep(0.05)
    finally:
        await client.close()
    return latency


async def run(
    intake: Service, database: str, contacts: int, rate: float | None
) -> tuple[float, list[float]]:
    url = f"{intake.url}/v1/telephony/twilio/{CENTER}"
    expected: dict[str, float] = {}
    done = asyncio.Event()
    watcher = asyncio.create_task(watch(database, expected, done, timeout=600))
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)) as client:
        start = time.perf_counter()

        async def one(n: int) -> None:
            task_id, started = await caller(client, url, n)
            expected[task_id] = started

        jobs = []
        for n in range(contacts):
            jobs.append(asyncio.create_task(one(n)))
            if rate:
                await asyncio.sleep(1 / rate)  # the offered rate
        await asyncio.gather(*jobs)
    done.set()
    latency = await watcher
    return time.perf_counter() - start, list(latency.values())


async def raw_ceiling(prefix: str, count: int) -> tuple[float, float]:
    topic = f"{prefix}.raw-pipeline"
    producer = AIOKafkaProducer(
        bootstrap_servers=KafkaSettings().bootstrap, enable_idempotence=True
    )
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=KafkaSettings().bootstrap, auto_offset_reset="earliest"
    )
    await producer.start()
    await consumer.start()
    start = time.perf_counter()
    await asyncio.gather(
        *(producer.send_and_wait(topic, b"x" * 600, key=str(n).encode()) for n in range(count))
    )
    seen = 0
    while seen < count:
        seen += sum(len(v) for v in (await consumer.getmany(timeout_ms=500)).values())
    kafka_seconds = time.perf_counter() - start
    await producer.stop()
    await consumer.stop()
    client = make_client(MongoSettings())
    start = time.perf_counter()
    await client[f"{prefix}_raw"]["docs"].insert_many(
        [{"n": n, "x": "y" * 600} for n in range(count)]
    )
    mongo_seconds = time.perf_counter() - start
    await client.drop_database(f"{prefix}_raw")
    await client.close()
    return kafka_seconds, mongo_seconds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0, help="fixed offered rate, contacts/s")
    args = parser.parse_args()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    async with Service("intake", prefix=prefix) as intake, Service("followup", prefix=prefix):
        database = f"{prefix}_hotline_followup"
        fixed_s, fixed = await run(intake, database, args.contacts, args.rate)
        sat_s, sat = await run(intake, database, args.contacts, None)
        kafka_s, mongo_s = await raw_ceiling(prefix, args.contacts * 4)
    print(
        f"pipeline: Twilio abandoned call -> callback task stored, {args.contacts} contacts per run"
    )
    print(summary(f"fixed offered rate {args.rate}/s", len(fixed), fixed_s, fixed))
    print(summary("saturation (all at once)", len(sat), sat_s, sat))
    events = args.contacts * 4  # started, queued, abandoned + followup.scheduled
    print(summary("raw ceiling: aiokafka produce->consume", events, kafka_s))
    print(summary("raw ceiling: PyMongo insert_many", events, mongo_s))
    print(f"ratio: saturated pipeline moves {len(sat) * 4 / sat_s / (events / kafka_s):.1%} of the raw Kafka "
          f"rate and {len(sat) * 4 / sat_s / (events / mongo_s):.1%} of the raw PyMongo bulk rate")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
