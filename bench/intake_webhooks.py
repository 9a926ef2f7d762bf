"""Intake webhook throughput: N signed Twilio callbacks over loopback.

Prints accepted/s and p50/p99 from request to event committed (the response returns
after the broker acknowledged the events, acks=all), next to the raw aiokafka send rate of
the same number of messages measured in the same run.

    uv run python bench/intake_webhooks.py --requests 2000 --concurrency 32
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
from _common import Service, profiled, summary
from aiokafka import AIOKafkaProducer
from hotline_shared import twilio as signatures
from hotline_shared.mongo import make_client
from hotline_shared.settings import KafkaSettings, MongoSettings

CENTER, TOKEN = "center-01", "dev-twilio-token-center-01"


def callback(n: int) -> dict[str, str]:
    return {"CallSid": f"CA{uuid.uuid4().hex}", "AccountSid": "AC1", "From": f"+1555{n % 10_000_000:07d}",
            "To": "+18005551212", "CallStatus": "in-progress", "Direction": "inbound",
            "SequenceNumber": "0", "Timestamp": format_datetime(datetime.now(UTC))}  # fmt: skip


async def run_webhooks(url: str, requests: int, concurrency: int) -> tuple[float, list[float], int]:
    endpoint = f"{url}/v1/telephony/twilio/{CENTER}"
    forms = [callback(n) for n in range(requests)]
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    for form in forms:
        queue.put_nowait(form)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while not queue.empty():
            form = queue.get_nowait()
            headers = {"X-Twilio-Signature": signatures.signature(TOKEN, endpoint, form),
                       "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
            start = time.perf_counter()
            response = await client.post(endpoint, content=urlencode(form), headers=headers)
            latencies.append((time.perf_counter() - start) * 1000)
            failures += response.status_code != 200

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, failures


async def run_raw_kafka(messages: int, concurrency: int, topic: str) -> tuple[float, list[float]]:
    producer = AIOKafkaProducer(
        bootstrap_servers=KafkaSettings().bootstrap, enable_idempotence=True
    )
    await producer.start()
    payload = b"x" * 600  # about the size of a contact event
    latencies: list[float] = []
    counter = iter(range(messages))

    async def worker() -> None:
        for n in counter:
            start = time.perf_counter()
            await producer.send_and_wait(topic, payload, key=str(n % 97).encode())
            latencies.append((time.perf_counter() - start) * 1000)

    try:
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies
    finally:
        await producer.stop()


async def run_raw_mongo(docs: int, concurrency: int, database: str) -> tuple[float, list[float]]:
    """The same write mix per request as intake (insert, then update the same document)."""
    client = make_client(MongoSettings())
    collection = client[database]["raw_contacts"]
    latencies: list[float] = []
    counter = iter(range(docs))

    async def worker() -> None:
        for n in counter:
            start = time.perf_counter()
            await collection.insert_one({"_id": f"c{n}", "status": "queued", "x": "y" * 600})
            await collection.update_one({"_id": f"c{n}"}, {"$set": {"published": True}})
            latencies.append((time.perf_counter() - start) * 1000)

    try:
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies
    finally:
        await client.drop_database(database)
        await client.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    async with Service("intake") as intake:
        await run_webhooks(intake.url, min(200, args.requests), args.concurrency)  # warm-up
        with profiled(intake):
            seconds, latencies, failures = await run_webhooks(
                intake.url, args.requests, args.concurrency
            )
        events = args.requests * 2  # each in-progress callback on a new call: started + queued
        raw_seconds, raw_latencies = await run_raw_kafka(
            events, args.concurrency, f"{intake.prefix}.raw"
        )
        db_seconds, db_latencies = await run_raw_mongo(
            args.requests, args.concurrency, f"{intake.prefix}_raw"
        )
    print(
        f"intake webhooks, {args.requests} signed Twilio callbacks, concurrency {args.concurrency}"
    )
    print(summary("accepted (request -> events committed)", args.requests, seconds, latencies))
    print(summary("  events committed to Kafka", events, seconds))
    print(
        summary("raw ceiling: aiokafka send_and_wait, acks=all", events, raw_seconds, raw_latencies)
    )
    print(
        summary(
            "raw ceiling: PyMongo insert+update per request",
            args.requests,
            db_seconds,
            db_latencies,
        )
    )
    print(f"ratio: intake events/s is {events / seconds / (events / raw_seconds):.1%} of raw Kafka; "
          f"intake requests/s is {args.requests / seconds / (args.requests / db_seconds):.1%} of raw PyMongo; "
          f"failures {failures}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
