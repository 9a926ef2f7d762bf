"""Autosave under load: 50 concurrent counselors, each autosaving its own session notes.

Prints saves/s and p50/p99 per save (encrypt, versioned insert, audit), next to a raw
PyMongo update of the same number of documents by the same number of writers, same run.

    uv run python bench/sessions_autosave.py --writers 50 --saves 20

Paced (--seconds S): each of --writers counselors autosaves every --interval seconds for S
seconds, on its own fixed schedule (the writers' phases spread evenly over the interval). A
tick that comes while the writer's last save is still in flight is missed, and counted:
the writer waits for that save and saves again at its next tick, with what was typed
meanwhile. Latency is from the scheduled tick (the send, unless the client itself lags).
Prints saves/s, p50/p99/max and missed ticks, next to raw PyMongo update_one by the same
writers on the same schedule and flat out (the closed-loop raw ceiling above).

    uv run python bench/sessions_autosave.py --writers 50 --interval 1 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

import httpx
import uvloop
from _common import Service, percentile, profiled, spread, summary
from hotline_sessions.service_layer import session_id_for
from hotline_shared.auth import mint_token
from hotline_shared.events import ContactAnswered, ContactAnsweredData, new_event
from hotline_shared.kafka import EventBus
from hotline_shared.mongo import make_client
from hotline_shared.settings import KafkaSettings, MongoSettings, SecuritySettings

CENTER = "center-01"
NOTE = "Caller describes a breakup last week; denies access to means; distress 7/10. " * 8


async def open_sessions(prefix: str, writers: int) -> list[str]:
    bus = EventBus(KafkaSettings(topic_prefix=f"{prefix}."), client_id="bench")
    await bus.start()
    ids = []
    try:
        for _ in range(writers):
            contact_id = str(uuid.uuid4())
            data = ContactAnsweredData(contact_id=contact_id, provider="twilio", provider_contact_id=contact_id,
                                       channel="voice", occurred_at=datetime.now(UTC), caller_token=None,
                                       caller_reachable=False)  # fmt: skip
            await bus.publish(new_event(ContactAnswered, data=data, center_id=CENTER, source="bench",
                                        time=datetime.now(UTC), cause=(contact_id,)))  # fmt: skip
            ids.append(session_id_for(contact_id, 1))
    finally:
        await bus.stop()
    return ids


def counselor_token() -> str:
    secret = SecuritySettings().jwt_secret
    assert secret is not None
    return mint_token(secret.get_secret_value(), sub="bench", role="counselor", centers=[CENTER])


async def opened(client: httpx.AsyncClient, session_id: str) -> None:
    """Wait until sessions has opened the session (from the ContactAnswered event)."""
    deadline = time.monotonic() + 60
    while (await client.get(f"/v1/sessions/{session_id}")).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"session {session_id} never opened")
        await asyncio.sleep(0.1)


async def run_paced(
    url: str, session_ids: list[str], interval: float, seconds: float
) -> tuple[float, list[float], int, int, int, int]:
    """Each session's counselor saves every `interval` s for `seconds`: (seconds, latency
    per save in ms from its scheduled tick, ticks, missed ticks, conflicts, failed saves)."""
    latencies: list[float] = []
    ticks = missed = conflicts = failures = 0

    async def save(client: httpx.AsyncClient, session_id: str, version: int, n: int) -> int:
        nonlocal conflicts, failures
        try:
            response = await client.put(f"/v1/sessions/{session_id}/notes", headers={"If-Match": str(version)},
                                        json={"free_text": NOTE[: 200 + n * 20], "exploring": {"distress": 7}})  # fmt: skip
        except httpx.TransportError:  # a timeout (60 s): the save failed, the writer goes on
            failures += 1
            return version
        conflicts += response.status_code == 409
        failures += response.status_code not in (200, 409)
        return (
            int(response.json().get("version", version)) if response.status_code == 200 else version
        )

    async def counselor(
        client: httpx.AsyncClient, session_id: str, version: int, phase: float, start: float
    ) -> None:
        nonlocal ticks, missed
        n = 1
        count = int(seconds / interval)
        k = 0
        while k < count:
            due = start + phase + k * interval
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            version = await save(client, session_id, version, n)
            latencies.append((time.perf_counter() - due) * 1000)
            n += 1
            # the ticks that came while this save was in flight are missed
            after = min(count, int((time.perf_counter() - start - phase) / interval) + 1)
            missed += max(0, after - (k + 1))
            ticks += after - k
            k = after

    headers = {"Authorization": f"Bearer {counselor_token()}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60,
                                 limits=httpx.Limits(max_connections=len(session_ids))) as client:  # fmt: skip
        await asyncio.gather(*(opened(client, sid) for sid in session_ids))
        # a first save each, untimed: the connections, the sessions' first versions
        versions = await asyncio.gather(*(save(client, sid, 0, 0) for sid in session_ids))
        conflicts = failures = 0
        start = time.perf_counter() + 0.1
        phases = [i * interval / len(session_ids) for i in range(len(session_ids))]
        await asyncio.gather(*(counselor(client, sid, version, phase, start)
                               for sid, version, phase in zip(session_ids, versions, phases, strict=True)))  # fmt: skip
        return time.perf_counter() - start, latencies, ticks, missed, conflicts, failures


async def run_autosaves(
    url: str, session_ids: list[str], saves: int
) -> tuple[float, list[float], int]:
    token = counselor_token()
    latencies: list[float] = []
    conflicts = 0

    async def counselor(client: httpx.AsyncClient, session_id: str) -> None:
        nonlocal conflicts
        await opened(client, session_id)
        version = 0
        for n in range(saves):
            start = time.perf_counter()
            response = await client.put(f"/v1/sessions/{session_id}/notes", headers={"If-Match": str(version)},
                                        json={"free_text": NOTE[: 200 + n * 20], "exploring": {"distress": 7}})  # fmt: skip
            latencies.append((time.perf_counter() - start) * 1000)
            conflicts += response.status_code == 409
            version = response.json().get("version", version)

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60,
                                 limits=httpx.Limits(max_connections=len(session_ids))) as client:  # fmt: skip
        # wait until every session exists before timing
        await asyncio.gather(*(counselor(client, sid) for sid in session_ids[:1]))
        latencies.clear()
        start = time.perf_counter()
        await asyncio.gather(*(counselor(client, sid) for sid in session_ids[1:]))
        return time.perf_counter() - start, latencies, conflicts


async def run_raw(
    writers: int, saves: int, database: str, interval: float | None = None
) -> tuple[float, list[float]]:
    """update_one by `writers`, `saves` each: flat out, or every `interval` s on the same
    schedule as the paced run (latency from the scheduled tick)."""
    client = make_client(MongoSettings())
    collection = client[database]["raw_sessions"]
    await collection.insert_many([{"_id": f"s{n}", "version": 0} for n in range(writers)])
    latencies: list[float] = []
    start = time.perf_counter() + 0.1

    async def writer(n: int) -> None:
        for version in range(saves):
            begin = time.perf_counter()
            if interval:
                begin = start + n * interval / writers + version * interval
                await asyncio.sleep(max(0.0, begin - time.perf_counter()))
            await collection.update_one(
                {"_id": f"s{n}"}, {"$set": {"notes": NOTE, "version": version + 1}}
            )
            latencies.append((time.perf_counter() - begin) * 1000)

    try:
        begin = time.perf_counter()
        await asyncio.gather(*(writer(n) for n in range(writers)))
        return time.perf_counter() - begin, latencies
    finally:
        await client.drop_database(database)
        await client.close()


async def paced(
    sessions: Service, writers: int, saves: int, interval: float, seconds: float
) -> None:
    session_ids = await open_sessions(sessions.prefix, writers)
    with profiled(sessions):
        took, latencies, ticks, missed, conflicts, failures = await run_paced(
            sessions.url, session_ids, interval, seconds
        )
    raw_ticks = max(1, int(min(seconds, 20.0) / interval))
    _, raw_paced = await run_raw(writers, raw_ticks, f"{sessions.prefix}_rawpaced", interval)
    raw_seconds, raw_latencies = await run_raw(writers, saves, f"{sessions.prefix}_raw")
    print(f"sessions autosave, paced: {writers} counselors each saving every {interval:g} s for "
          f"{seconds:g} s (phases spread over the interval), latency from the scheduled tick")  # fmt: skip
    print(f"  {len(latencies)} saves in {took:.2f} s = {len(latencies) / took:.1f} saves/s "
          f"(offered {writers / interval:.1f}/s): {spread(latencies)}")  # fmt: skip
    print(f"  ticks {ticks}, missed (a save still in flight) {missed} ({missed / max(1, ticks):.1%}); "
          f"conflicts {conflicts}, failed saves {failures}")  # fmt: skip
    print(f"raw ceiling: PyMongo update_one, same writers and schedule ({raw_ticks} ticks each): "
          f"{spread(raw_paced)}")  # fmt: skip
    total = writers * saves
    print(
        summary(
            f"raw ceiling: PyMongo update_one, flat out ({writers}x{saves})",
            total,
            raw_seconds,
            raw_latencies,
        )
    )
    print(f"ratio: offered {writers / interval:.1f} saves/s is {writers / interval / (total / raw_seconds):.1%} "
          f"of raw PyMongo flat out; autosave p99 {percentile(latencies, 99):.1f} ms vs raw p99 "
          f"{percentile(raw_paced, 99):.1f} ms on the same schedule")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--saves", type=int, default=20, help="closed loop: saves per writer "
                        "(paced: of the flat-out raw ceiling)")  # fmt: skip
    parser.add_argument("--seconds", type=float, help="paced: save every --interval for this long")
    parser.add_argument("--interval", type=float, default=1.0, help="paced: seconds between saves")
    args = parser.parse_args()
    async with Service("sessions") as sessions:
        if args.seconds:
            await paced(sessions, args.writers, args.saves, args.interval, args.seconds)
            return
        session_ids = await open_sessions(sessions.prefix, args.writers + 1)
        with profiled(sessions):
            seconds, latencies, conflicts = await run_autosaves(
                sessions.url, session_ids, args.saves
            )
        raw_seconds, raw_latencies = await run_raw(
            args.writers, args.saves, f"{sessions.prefix}_raw"
        )
    total = args.writers * args.saves
    print(f"sessions autosave, {args.writers} concurrent writers x {args.saves} saves")
    print(summary("autosave PUT /notes (encrypt+version+audit)", total, seconds, latencies))
    print(
        summary("raw ceiling: PyMongo update_one, same writers", total, raw_seconds, raw_latencies)
    )
    print(
        f"ratio: autosave is {total / seconds / (total / raw_seconds):.1%} of raw PyMongo; conflicts {conflicts}"
    )


if __name__ == "__main__":
    uvloop.run(main())  # as the services run: the client's own loop is not what is measured
