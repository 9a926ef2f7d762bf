"""The whole pipeline: telephony webhook → intake → Kafka → follow-up → task stored.

Each simulated caller abandons a Twilio queue (signed callbacks: in-progress, hangup,
completed); the latency is from the first webhook to the callback task being stored in
follow-up's database. Measured at a fixed offered rate and at saturation; in the same
run the raw ceiling: aiokafka produce→consume of the same number of events, and PyMongo
bulk writes of the same number of documents to the same database.

    uv run python bench/pipeline.py --contacts 200 --rate 5
    uv run python bench/pipeline.py --contacts 6000 --rate 100        # sustained, lag growing?
    uv run python bench/pipeline.py --surge --rate 20                 # 30 s base, 60 s 5x, 60 s base

Callers start on a fixed schedule (an open loop: a slow pipeline does not slow the
offer), and each contact's latency runs from its scheduled first webhook (its send, unless
the client itself lags; the sender's lag is printed) to its task first seen in follow-up's
database, which is polled every 50 ms for the oldest 1,000 contacts not yet seen.
The fixed rate prints per 10-s window offered, stored and backlog, and the first half's
latency against the second's: a pipeline that keeps up has both alike. --surge offers
--rate for --base-seconds, 5x that for --surge-seconds, then --rate for --after-seconds,
and prints the same windows and when the backlog drained: the first window after the surge
whose p99 is within 2x the p99 before it. A warm-up of 20 contacts runs first, untimed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlencode

import httpx
import uvloop
from _common import Service, open_loop, percentile, spread, summary
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from hotline_shared import twilio as signatures
from hotline_shared.ids import contact_id_for, derive_id
from hotline_shared.mongo import make_client
from hotline_shared.settings import KafkaSettings, MongoSettings

CENTER, TOKEN = "center-01", "dev-twilio-token-center-01"


def forms_for(sid: str, n: int) -> list[dict[str, str]]:
    base = {"CallSid": sid, "AccountSid": "AC1", "From": f"+1555{n % 10_000_000:07d}",
            "To": "+18005551212", "Direction": "inbound"}  # fmt: skip
    return [
        {**base, "CallStatus": "in-progress", "SequenceNumber": "0",
         "Timestamp": format_datetime(datetime.now(UTC))},
        {**base, "CallStatus": "in-progress", "QueueResult": "hangup", "QueueSid": "QU1",
         "QueueTime": "40"},
        {**base, "CallStatus": "completed", "SequenceNumber": "1",
         "Timestamp": format_datetime(datetime.now(UTC))},
    ]  # fmt: skip


def task_id_for(sid: str) -> str:
    return derive_id("followup", "callback", contact_id_for(CENTER, "twilio", sid))


async def caller(client: httpx.AsyncClient, url: str, sid: str, n: int) -> tuple[int, int]:
    """A caller who abandons the queue: its three webhooks, each retried as Twilio does;
    (retries, webhooks given up on)."""
    retries = given_up = 0
    for form in forms_for(sid, n):
        headers = {"X-Twilio-Signature": signatures.signature(TOKEN, url, form),
                   "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
        for attempt in range(20):  # as Twilio does: retry a failed webhook
            retries += attempt > 0
            try:
                if (
                    await client.post(url, content=urlencode(form), headers=headers)
                ).status_code < 500:
                    break
            except httpx.TransportError:
                pass  # a keep-alive connection the server had just closed, a pool timeout
            await asyncio.sleep(0.5)
        else:
            given_up += 1
    return retries, given_up


@dataclass
class Result:
    """One run: per contact its scheduled start and, once its task was seen, when (both in
    s since the schedule's start); the sender's lag; webhook retries and give-ups."""

    offsets: list[float] = field(default_factory=list)
    stored: list[float | None] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)
    retries: int = 0
    given_up: int = 0
    seconds: float = 0.0  # from the start until the last task was seen (or the watch ended)

    def latencies(self, since: float = 0.0, until: float = float("inf")) -> list[float]:
        """Latency in ms of the stored contacts scheduled in [since, until)."""
        return [(s - o) * 1000 for o, s in zip(self.offsets, self.stored, strict=True)
                if s is not None and since <= o < until]  # fmt: skip


async def watch(
    database: str, expected: dict[str, float], seen: dict[str, float], done: asyncio.Event
) -> None:
    """Poll follow-up's tasks while callers are still coming, until every expected task is
    seen or, once the callers are done, none more for 60 s; fills `seen` (task id ->
    time.perf_counter() of the poll that found it)."""
    client = make_client(MongoSettings())
    tasks = client[database]["tasks"]
    progress = time.monotonic()
    try:
        while not (
            done.is_set() and (len(seen) >= len(expected) or time.monotonic() - progress > 60)
        ):
            pending = [i for i in list(expected) if i not in seen][:1000]  # the oldest first
            now = time.perf_counter()
            for chunk in range(0, len(pending), 500):
                async for doc in tasks.find(
                    {"_id": {"$in": pending[chunk : chunk + 500]}}, {"_id": 1}
                ):
                    seen[doc["_id"]] = now
                    progress = time.monotonic()
            await asyncio.sleep(0.05)
    finally:
        await client.close()


async def drive(
    intake: Service, database: str, phases: list[tuple[float, float]], connections: int = 64
) -> Result:
    """Callers offered on the schedule of `phases` ((rate/s, seconds) each); their tasks watched."""
    url = f"{intake.url}/v1/telephony/twilio/{CENTER}"
    expected: dict[str, float] = {}  # task id -> scheduled perf_counter, in schedule order
    seen: dict[str, float] = {}
    done = asyncio.Event()
    watcher = asyncio.create_task(watch(database, expected, seen, done))
    result = Result()

    async def one(client: httpx.AsyncClient, n: int, scheduled: float) -> None:
        sid = f"CA{uuid.uuid4().hex}"
        expected[task_id_for(sid)] = scheduled
        retries, given_up = await caller(client, url, sid, n)
        result.retries += retries
        result.given_up += given_up

    limits = httpx.Limits(max_connections=connections)
    try:
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            start, result.lag = await open_loop(phases, lambda n, at: one(client, n, at))
    finally:
        done.set()
        await watcher
    for task_id, scheduled in expected.items():
        result.offsets.append(scheduled - start)
        result.stored.append(seen[task_id] - start if task_id in seen else None)
    result.seconds = max(
        (s for s in result.stored if s is not None), default=time.perf_counter() - start
    )
    return result


async def run(
    intake: Service, database: str, contacts: int, rate: float | None
) -> tuple[float, list[float]]:
    """`contacts` callers at `rate`/s, or all at once: (seconds, latencies of the stored, ms)."""
    phases = [(rate, contacts / rate)] if rate else [(1e6, contacts / 1e6)]  # at once
    result = await drive(intake, database, phases)
    return result.seconds, result.latencies()


def windows(
    result: Result, width: float = 10.0, marks: dict[float, str] | None = None
) -> list[str]:
    """Per `width`-s window: offered (scheduled in it), stored (seen in it), backlog at its
    end, and p50/p99 of the contacts offered in it."""
    last = max([*result.offsets, *(s for s in result.stored if s is not None)], default=0.0)
    lines = [
        f"  {'window (s)':>11} {'offered':>8} {'stored':>7} {'backlog':>8}   latency of those offered"
    ]
    offered_total = stored_total = 0
    for w in range(int(last // width) + 1):
        lo, hi = w * width, (w + 1) * width
        offered = sum(lo <= o < hi for o in result.offsets)
        stored = sum(s is not None and lo <= s < hi for s in result.stored)
        offered_total += offered
        stored_total += stored
        latencies = result.latencies(lo, hi)
        figures = (
            f"p50 {percentile(latencies, 50):8.1f} ms  p99 {percentile(latencies, 99):8.1f} ms"
            if latencies
            else ""
        )
        mark = next((f"  <- {m}" for at, m in (marks or {}).items() if lo <= at < hi), "")
        lines.append(
            f"  {lo:5.0f}-{hi:<5.0f} {offered:8} {stored:7} {offered_total - stored_total:8}   {figures}{mark}"
        )
    return lines


def overall(label: str, result: Result) -> list[str]:
    latencies = result.latencies()
    offered, span = len(result.offsets), max(result.offsets, default=0.0)
    achieved = (offered - 1) / span if offered > 1 and span > 0 else float("nan")
    return [
        summary(label, len(latencies), result.seconds, latencies),
        f"  offered {offered} (achieved {achieved:.1f}/s), stored {len(latencies)}; {spread(latencies)}",
        f"  sender lag behind schedule: {spread(result.lag)}; webhook retries {result.retries}, "
        f"given up {result.given_up}",
    ]  # fmt: skip


def halves(result: Result) -> str:
    middle = max(result.offsets, default=0.0) / 2
    first, second = result.latencies(0, middle), result.latencies(middle)
    growth = percentile(second, 50) / percentile(first, 50) if first and second else float("nan")
    return (f"  first half  (offered 0-{middle:.0f} s): {spread(first)}\n"
            f"  second half (offered {middle:.0f} s-end): {spread(second)}\n"
            f"  lag growing? second half's p50 is {growth:.2f}x the first's "
            f"({'about the same' if growth <= 1.5 else 'GROWING'}: <= 1.5x counts as keeping up)")  # fmt: skip


async def warm_up(intake: Service, database: str) -> None:
    await drive(intake, database, [(20.0, 1.0)])  # connections, consumer group assignment


def ceiling(events: int, kafka_s: float, mongo_s: float) -> list[str]:
    return [summary("raw ceiling: aiokafka produce->consume", events, kafka_s),
            summary("raw ceiling: PyMongo insert_many", events, mongo_s)]  # fmt: skip


async def fixed(args: argparse.Namespace) -> None:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    saturated = min(args.contacts, 1000)
    async with Service("intake", prefix=prefix) as intake, Service("followup", prefix=prefix):
        database = f"{prefix}_hotline_followup"
        await warm_up(intake, database)
        result = await drive(
            intake, database, [(args.rate, args.contacts / args.rate)], args.connections
        )
        sat = await drive(intake, database, [(1e6, saturated / 1e6)], args.connections)
        events = min(args.contacts * 4, 8000)  # started, queued, abandoned + followup.scheduled
        kafka_s, mongo_s = await raw_ceiling(prefix, events)
    print(
        "pipeline: Twilio abandoned call -> callback task stored, latency from the scheduled first webhook"
    )
    for line in overall(f"fixed offered rate {args.rate:g}/s, {args.contacts} contacts", result):
        print(line)
    print(halves(result))
    print("\n".join(windows(result)))
    sat_latencies = sat.latencies()
    print(
        summary(
            f"saturation ({saturated} callers at once)",
            len(sat_latencies),
            sat.seconds,
            sat_latencies,
        )
    )
    print("\n".join(ceiling(events, kafka_s, mongo_s)))
    moved = len(sat_latencies) * 4 / sat.seconds
    print(f"ratio: saturated pipeline moves {moved / (events / kafka_s):.1%} of the raw Kafka rate and "
          f"{moved / (events / mongo_s):.1%} of the raw PyMongo bulk rate; the fixed rate stored "
          f"{len(result.latencies()) / result.seconds:.1f} contacts/s")  # fmt: skip


async def surge(args: argparse.Namespace) -> None:
    base, high = args.rate, args.rate * 5
    surge_from = args.base_seconds
    surge_to = surge_from + args.surge_seconds
    phases = [(base, args.base_seconds), (high, args.surge_seconds), (base, args.after_seconds)]
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    async with Service("intake", prefix=prefix) as intake, Service("followup", prefix=prefix):
        database = f"{prefix}_hotline_followup"
        await warm_up(intake, database)
        result = await drive(intake, database, phases, args.connections)
        events = min(len(result.offsets) * 4, 8000)
        kafka_s, mongo_s = await raw_ceiling(prefix, events)
    print(f"pipeline surge: Twilio abandoned call -> callback task stored; {base:g}/s for "
          f"{args.base_seconds:g} s, {high:g}/s for {args.surge_seconds:g} s, {base:g}/s for "
          f"{args.after_seconds:g} s; latency from the scheduled first webhook")  # fmt: skip
    print("\n".join(windows(result, marks={surge_from: "surge starts", surge_to: "surge ends"})))
    before = result.latencies(0, surge_from)
    during = result.latencies(surge_from, surge_to)
    after = result.latencies(surge_to)
    print(f"  before the surge: {spread(before)}")
    print(f"  during the surge: {spread(during)}")
    print(f"  after the surge:  {spread(after)}")
    limit = 2 * percentile(before, 99)
    drained = None
    for w in range(int(surge_to // 10), int(max(result.offsets, default=0) // 10) + 1):
        lo = w * 10.0
        latencies = result.latencies(lo, lo + 10)
        if lo >= surge_to and latencies and percentile(latencies, 99) <= limit:
            drained = lo
            break
    if drained is None:
        print(f"backlog drained: NOT within the run (no window after the surge had p99 <= {limit:.1f} ms, "
              f"2x the p99 before it)")  # fmt: skip
    else:
        print(f"backlog drained: the window {drained:.0f}-{drained + 10:.0f} s, {drained - surge_to:.0f}-"
              f"{drained + 10 - surge_to:.0f} s after the surge ended, is the first after it with p99 <= "
              f"{limit:.1f} ms (2x the p99 before the surge)")  # fmt: skip

    def backlog(at: float) -> int:
        return sum(o < at for o in result.offsets) - sum(
            s is not None and s < at for s in result.stored
        )

    level = max(backlog(t) for t in range(10, int(surge_from) + 1, 10)) if surge_from >= 10 else 0
    end = int(result.seconds // 10 + 1) * 10
    back = next(
        (t for t in range(int(surge_to // 10 + 1) * 10, end + 1, 10) if backlog(t) <= level), None
    )
    print(f"backlog (offered - stored) at the surge's end {backlog(surge_to)}; back to its level before the "
          f"surge ({level}) " + (f"at {back} s, {back - surge_to:.0f} s after the surge ended" if back is not None
                                 else "not within the run"))  # fmt: skip
    for line in overall("whole run", result):
        print(line)
    print("\n".join(ceiling(events, kafka_s, mongo_s)))
    print(f"ratio: the surge offered {high * 4:g} events/s, {high * 4 / (events / kafka_s):.1%} of the raw "
          f"Kafka rate and {high * 4 / (events / mongo_s):.1%} of the raw PyMongo bulk rate")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--contacts", type=int, default=200, help="fixed rate: how many (saturation: up to 1000)"
    )
    parser.add_argument(
        "--rate", type=float, help="offered contacts/s (default 5; --surge: the base, default 20)"
    )
    parser.add_argument("--surge", action="store_true", help="base rate, 5x it, base again")
    parser.add_argument("--base-seconds", type=float, default=30.0)
    parser.add_argument("--surge-seconds", type=float, default=60.0)
    parser.add_argument("--after-seconds", type=float, default=60.0)
    parser.add_argument(
        "--connections", type=int, default=64, help="the callers' connection pool to intake"
    )
    args = parser.parse_args()
    if args.surge:
        args.rate = args.rate or 20.0
        await surge(args)
    else:
        args.rate = args.rate or 5.0
        await fixed(args)


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


if __name__ == "__main__":
    uvloop.run(main())  # as the services run: the client's own loop is not what is measured
