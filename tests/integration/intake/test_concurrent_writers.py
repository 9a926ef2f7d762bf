"""Two intake replicas writing one contact at once: the database decides every race."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hotline_shared.mongo import make_client
from hotline_shared.settings import MongoSettings

from tests.integration.intake.test_counselor_api import COUNSELOR, HIGH, LOW, answered_contact
from tests.support import ServiceProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def second_replica(
    intake_service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceProcess]:
    env = {k: intake_service.env[k] for k in ("HOTLINE_KAFKA_TOPIC_PREFIX",
                                                "HOTLINE_MONGODB_DATABASE_PREFIX")}  # fmt: skip
    replica = ServiceProcess("intake", env, Path(tmp_path_factory.mktemp("intake2")))
    replica.start()
    try:
        await replica.wait_ready()
        yield replica
    finally:
        replica.stop()


async def test_twenty_concurrent_screenings_on_one_contact_the_newest_accepted_is_its_risk(
    intake_service: ServiceProcess, second_replica: ServiceProcess, intake_mongo: MongoSettings
) -> None:
    replicas = [intake_service, second_replica]
    clients = [httpx.AsyncClient(base_url=r.url, headers=COUNSELOR, timeout=30) for r in replicas]
    rng = random.Random(3)
    try:
        contact_id = await answered_contact(clients[0])
        responses = await asyncio.gather(*(
            clients[n % 2].post(f"/v1/contacts/{contact_id}/screenings",
                                json={"answers": rng.choice([HIGH, LOW])},
                                headers={"Idempotency-Key": f"k{n}"})
            for n in range(20)
        ))  # fmt: skip
        contact = (await clients[1].get(f"/v1/contacts/{contact_id}")).json()
    finally:
        for client in clients:
            await client.aclose()
    assert {r.status_code for r in responses} <= {201, 503}
    accepted = [r.json() for r in responses if r.status_code == 201]
    assert accepted, "at least one screening was accepted"
    # the newest; two of the same millisecond by their id (domain.facts.newest_wins)
    newest = max(accepted, key=lambda s: (s["assessed_at"], s["id"]))
    assert contact["risk"]["screening_id"] == newest["id"]
    assert contact["risk"]["level"] == newest["level"]
    mongo = make_client(intake_mongo)
    try:
        stored = mongo[f"{intake_mongo.database_prefix}hotline_intake"]["screenings"]
        ids = {d["_id"] async for d in stored.find({"contact_id": contact_id}, {"_id": 1})}
    finally:
        await mongo.close()
    assert ids == {s["id"] for s in accepted}
