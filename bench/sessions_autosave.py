"""Autosave under load: 50 concurrent counselors, each autosaving its own session notes.

Prints saves/s and p50/p99 per save (encrypt, versioned insert, audit), next to a raw
PyMongo update of the same number of documents by the same number of writers, same run.

    uv run python bench/sessions_autosave.py --writers 50 --saves 20
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

import httpx
from _common import Service, profiled, summary
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


async def run_autosaves(
    url: str, session_ids: list[str], saves: int
) -> tuple[float, list[float], int]:
    secret = SecuritySettings().jwt_secret
    assert secret is not None
    token = mint_token(secret.get_secret_value(), sub="bench", role="counselor", centers=[CENTER])
    latencies: list[float] = []
    conflicts = 0

    async def counselor(client: httpx.AsyncClient, session_id: str) -> None:
        nonlocal conflicts
        deadline = time.monotonic() + 60
        while (await client.get(f"/v1/sessions/{session_id}")).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"session {session_id} never opened")
            await asyncio.sleep(0.1)
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


async def run_raw(writers: int, saves: int, database: str) -> tuple[float, list[float]]:
    client = make_client(MongoSettings())
    collection = client[database]["raw_sessions"]
    await collection.insert_many([{"_id": f"s{n}", "version": 0} for n in range(writers)])
    latencies: list[float] = []

    async def writer(n: int) -> None:
        for version in range(saves):
            start = time.perf_counter()
            await collection.update_one(
                {"_id": f"s{n}"}, {"$set": {"notes": NOTE, "version": version + 1}}
            )
            latencies.append((time.perf_counter() - start) * 1000)

    try:
        start = time.perf_counter()
        await asyncio.gather(*(writer(n) for n in range(writers)))
        return time.perf_counter() - start, latencies
    finally:
        await client.drop_database(database)
        await client.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--saves", type=int, default=20)
    args = parser.parse_args()
    async with Service("sessions") as sessions:
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
    asyncio.run(main())
