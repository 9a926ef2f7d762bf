"""Intake webhook throughput: N signed Twilio callbacks over loopback.

Closed loop (--concurrency workers, each sending its next request when the last answered):
prints accepted/s and p50/p99 from request to event committed (the response returns
after the broker acknowledged the events, acks=all), next to the raw aiokafka send rate of
the same number of messages measured in the same run.

    uv run python bench/intake_webhooks.py --requests 2000 --concurrency 32

Open loop (--rate R): webhooks offered at R/s on a fixed schedule for --seconds, whatever
the responses (as Twilio sends them). Latency is from each webhook's scheduled send time,
so a stalled client or server shows in it; the sender's own lag behind the schedule is
printed too. Prints the achieved offered rate, p50/p99/max, failures, and next to them the
raw ceilings: the raw aiokafka send and PyMongo write mix offered at the same rate, and
their closed-loop throughput.

    uv run python bench/intake_webhooks.py --rate 250 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlencode

import httpx
import uvloop
from _common import Service, open_loop, percentile, profiled, spread, summary
from aiokafka import AIOKafkaProducer
from hotline_shared import twilio as signatures
from hotline_shared.mongo import make_client
from hotline_shared.settings import KafkaSettings, MongoSettings

CENTER, TOKEN = "center-01", "dev-twilio-token-center-01"


def callback(n: int) -> dict[str, str]:
    return {"CallSid": f"CA{uuid.uuid4().hex}", "AccountSid": "AC1", "From": f"+1555{n % 10_000_000:07d}",
            "To": "+18005551212", "CallStatus": "in-progress", "Direction": "inbound",
            "SequenceNumber": "0", "Timestamp": format_datetime(datetime.now(UTC))}  # fmt: skip


def signed(endpoint: str, form: dict[str, str]) -> tuple[str, dict[str, str]]:
    headers = {"X-Twilio-Signature": signatures.signature(TOKEN, endpoint, form),
               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    return urlencode(form), headers


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
            content, headers = signed(endpoint, form)
            start = time.perf_counter()
            response = await client.post(endpoint, content=content, headers=headers)
            latencies.append((time.perf_counter() - start) * 1000)
            failures += response.status_code != 200

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, failures


async def run_open_loop(
    url: str, rate: float, seconds: float, connections: int
) -> tuple[float, int, list[float], list[float], dict[str, int]]:
    """Webhooks at `rate`/s for `seconds`: (seconds the sends took, count sent, latency
    from the scheduled send to the response in ms, the sender's lag in ms, failures by kind)."""
    endpoint = f"{url}/v1/telephony/twilio/{CENTER}"
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    last_send = 0.0

    async def send(client: httpx.AsyncClient, n: int, scheduled: float) -> None:
        nonlocal last_send
        last_send = time.perf_counter()
        content, headers = signed(endpoint, callback(n))  # the Timestamp of the send
        try:
            response = await client.post(endpoint, content=content, headers=headers)
        except httpx.TransportError as exc:
            failures[type(exc).__name__] += 1
            return
        latencies.append((time.perf_counter() - scheduled) * 1000)
        if response.status_code != 200:
            failures[f"HTTP {response.status_code}"] += 1

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        start, lag = await open_loop([(rate, seconds)], lambda n, at: send(client, n, at))
    return last_send - start, len(lag), latencies, lag, dict(failures)


async def run_raw_kafka(
    messages: int, concurrency: int, topic: str, rate: float | None = None
) -> tuple[float, list[float]]:
    """aiokafka send_and_wait of `messages`: by `concurrency` workers, or with `rate`
    offered at that rate/s (open loop, latency from the scheduled send)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=KafkaSettings().bootstrap, enable_idempotence=True
    )
    await producer.start()
    payload = b"x" * 600  # about the size of a contact event
    await producer.send_and_wait(topic, payload)  # the topic exists before the timing starts
    latencies: list[float] = []

    async def send(n: int, since: float) -> None:
        await producer.send_and_wait(topic, payload, key=str(n % 97).encode())
        latencies.append((time.perf_counter() - since) * 1000)

    try:
        return await drive(send, messages, concurrency, rate), latencies
    finally:
        await producer.stop()


async def drive(
    op: Callable[[int, float], Awaitable[None]], count: int, concurrency: int, rate: float | None
) -> float:
    """`count` ops by `concurrency` closed-loop workers, or open loop at `rate`/s; seconds."""
    start = time.perf_counter()
    if rate:
        await open_loop([(rate, count / rate)], op)
    else:
        counter = iter(range(count))

        async def worker() -> None:
            for n in counter:
                await op(n, time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def run_raw_mongo(
    docs: int, concurrency: int, database: str, rate: float | None = None
) -> tuple[float, list[float]]:
    """The same write mix per request as intake (insert, then update the same document),
    by `concurrency` workers or offered at `rate`/s."""
    client = make_client(MongoSettings())
    collection = client[database]["raw_contacts"]
    latencies: list[float] = []
    tag = uuid.uuid4().hex[:6]  # one database, several runs

    async def write(n: int, since: float) -> None:
        await collection.insert_one({"_id": f"c{tag}{n}", "status": "queued", "x": "y" * 600})
        await collection.update_one({"_id": f"c{tag}{n}"}, {"$set": {"published": True}})
        latencies.append((time.perf_counter() - since) * 1000)

    try:
        return await drive(write, docs, concurrency, rate), latencies
    finally:
        await client.drop_database(database)
        await client.close()


async def closed_loop(intake: Service, requests: int, concurrency: int) -> None:
    await run_webhooks(intake.url, min(200, requests), concurrency)  # warm-up
    with profiled(intake):
        seconds, latencies, failures = await run_webhooks(intake.url, requests, concurrency)
    events = requests * 2  # each in-progress callback on a new call: started + queued
    raw_seconds, raw_latencies = await run_raw_kafka(events, concurrency, f"{intake.prefix}.raw")
    db_seconds, db_latencies = await run_raw_mongo(requests, concurrency, f"{intake.prefix}_raw")
    print(f"intake webhooks, {requests} signed Twilio callbacks, concurrency {concurrency}")
    print(summary("accepted (request -> state + events stored)", requests, seconds, latencies))
    print(summary("  events (published after the answer)", events, seconds))
    print(
        summary("raw ceiling: aiokafka send_and_wait, acks=all", events, raw_seconds, raw_latencies)
    )
    print(
        summary(
            "raw ceiling: PyMongo insert+update per request", requests, db_seconds, db_latencies
        )
    )
    print(f"ratio: intake events/s is {events / seconds / (events / raw_seconds):.1%} of raw Kafka; "
          f"intake requests/s is {requests / seconds / (requests / db_seconds):.1%} of raw PyMongo; "
          f"failures {failures}")  # fmt: skip


async def offered(
    intake: Service, rate: float, seconds: float, concurrency: int, connections: int
) -> None:
    await run_webhooks(intake.url, 200, concurrency)  # warm-up, closed loop
    with profiled(intake):
        send_s, sent, latencies, lag, failures = await run_open_loop(
            intake.url, rate, seconds, connections
        )
    # the raw parts offered the same load (at most 20 s of it), then flat out (closed loop)
    raw_s = min(seconds, 20.0)
    _, kafka_open = await run_raw_kafka(
        round(2 * rate * raw_s), 0, f"{intake.prefix}.raw", 2 * rate
    )
    _, mongo_open = await run_raw_mongo(round(rate * raw_s), 0, f"{intake.prefix}_raw", rate)
    flat = max(500, min(sent, 2000))
    kafka_s, kafka_flat = await run_raw_kafka(2 * flat, concurrency, f"{intake.prefix}.raw")
    mongo_s, mongo_flat = await run_raw_mongo(flat, concurrency, f"{intake.prefix}_raw")
    achieved = (sent - 1) / send_s if sent > 1 and send_s > 0 else float("nan")
    failed = sum(failures.values())
    print(f"intake webhooks, open loop: {rate:g}/s offered for {seconds:g} s, signed Twilio callbacks "
          f"(in-progress, new call: 2 events each), latency from each webhook's scheduled send "
          f"to its response (state and events stored; the Kafka publish follows the answer)")  # fmt: skip
    print(f"  offered {sent} webhooks, achieved send rate {achieved:.1f}/s; sender lag behind "
          f"schedule: {spread(lag)}")  # fmt: skip
    print(f"  answered {len(latencies)}: {spread(latencies)}")
    print(f"  failures {failed}" + (f" ({', '.join(f'{k} {v}' for k, v in sorted(failures.items()))})"
                                    if failures else ""))  # fmt: skip
    print(f"raw ceiling, same offered rate ({raw_s:g} s of it), latency from the scheduled send:")
    print(f"  aiokafka send_and_wait, {2 * rate:g} events/s: {spread(kafka_open)}")
    print(f"  PyMongo insert+update per request, {rate:g}/s: {spread(mongo_open)}")
    print("raw ceiling, flat out (closed loop, concurrency " + str(concurrency) + "):")
    print(summary("  aiokafka send_and_wait, acks=all", 2 * flat, kafka_s, kafka_flat))
    print(summary("  PyMongo insert+update per request", flat, mongo_s, mongo_flat))
    print(f"ratio: offered {rate:g}/s is {rate / (flat / mongo_s):.1%} of the raw PyMongo write-mix "
          f"ceiling and {2 * rate / (2 * flat / kafka_s):.1%} of raw Kafka's; intake p99 "
          f"{percentile(latencies, 99):.1f} ms vs raw PyMongo p99 {percentile(mongo_open, 99):.1f} ms "
          f"at the same rate")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="closed loop: how many")
    parser.add_argument("--concurrency", type=int, default=32, help="closed loop: workers")
    parser.add_argument("--rate", type=float, help="open loop: webhooks offered per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="open loop: for how long")
    parser.add_argument("--connections", type=int, default=256,
                        help="open loop: the client's connection pool (a webhook waiting for a "
                             "free connection waits in its latency)")  # fmt: skip
    args = parser.parse_args()
    async with Service("intake") as intake:
        if args.rate:
            await offered(intake, args.rate, args.seconds, args.concurrency, args.connections)
        else:
            await closed_loop(intake, args.requests, args.concurrency)


if __name__ == "__main__":
    uvloop.run(main())  # as the services run: the client's own loop is not what is measured
