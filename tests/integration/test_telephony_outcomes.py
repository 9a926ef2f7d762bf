"""Telephony outcomes through the services: queue-full failures and short abandons get no
callback and count apart; a TaskRouter answer opens the session during the call."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hotline_shared import twilio as signatures
from hotline_shared.events import CONTACTS_TOPIC
from hotline_shared.ids import contact_id_for
from hotline_shared.mongo import make_client
from hotline_shared.settings import KafkaSettings, MongoSettings

from tests.conftest import token_for
from tests.integration.followup.test_followup import caught_up
from tests.integration.intake.test_telephony import CENTER, TWILIO_TOKEN, post_twilio
from tests.support import ServiceProcess, read_topic, unique, wait_until
from tests.unit.intake import sequences as seq

pytestmark = pytest.mark.integration
SUPERVISOR = {"Authorization": f"Bearer {token_for('supervisor', [CENTER], 'supervisor-2')}"}


@contextlib.asynccontextmanager
async def running(tmp_path: Path, *names: str) -> AsyncIterator[dict[str, ServiceProcess]]:
    """Services on their own topics and databases, started together."""
    prefix = unique("t")
    env = {"HOTLINE_KAFKA_TOPIC_PREFIX": f"{prefix}.", "HOTLINE_MONGODB_DATABASE_PREFIX": f"{prefix}_",
           "HOTLINE_FOLLOWUP_GROUP_ID": f"{prefix}-followup"}  # fmt: skip
    started = {name: ServiceProcess(name, env, tmp_path) for name in names}
    for service in started.values():
        service.start()
    try:
        for service in started.values():
            await service.wait_ready()
        yield started
    finally:
        for service in started.values():
            service.stop()


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[dict[str, ServiceProcess]]:
    async with running(tmp_path, "intake", "followup") as started:
        yield started


def abandoned_after(sid: str, wait: int) -> list[dict[str, str]]:
    return [seq.twilio_status(sid, "in-progress", 0, 0), seq.twilio_queue(sid, "hangup", wait),
            seq.twilio_status(sid, "completed", 1, wait + 1)]  # fmt: skip


async def test_queue_full_and_short_abandons_get_no_callback_and_count_apart(
    services: dict[str, ServiceProcess],
) -> None:
    intake, followup = services["intake"], services["followup"]
    kafka = KafkaSettings(topic_prefix=intake.env["HOTLINE_KAFKA_TOPIC_PREFIX"])
    mongo = MongoSettings(database_prefix=intake.env["HOTLINE_MONGODB_DATABASE_PREFIX"])
    sids = {"failed": unique("CA"), "short": unique("CA"), "abandoned": unique("CA")}
    async with httpx.AsyncClient(base_url=intake.url, timeout=10) as client:
        for form in seq.twilio_failed(sids["failed"], result="queue-full"):
            assert (await post_twilio(client, form)).status_code == 200
        for form in abandoned_after(sids["short"], wait=2):
            assert (await post_twilio(client, form)).status_code == 200
        for form in abandoned_after(sids["abandoned"], wait=45):
            assert (await post_twilio(client, form)).status_code == 200
    ids = {k: contact_id_for("center-01", "twilio", sid) for k, sid in sids.items()}
    client_db = make_client(mongo)
    try:
        tasks = client_db[f"{mongo.database_prefix}hotline_followup"]["tasks"]

        async def callback_made() -> bool:
            return await tasks.count_documents({"contact_id": ids["abandoned"]}) == 1

        await wait_until(callback_made, timeout=60, what="the real abandon's callback")
        group = f"{followup.env['HOTLINE_FOLLOWUP_GROUP_ID']}.{CONTACTS_TOPIC}"
        await wait_until(lambda: caught_up(kafka, group, kafka.topic_prefix + CONTACTS_TOPIC),
                         timeout=60, what="follow-up consumed every contact event")  # fmt: skip
        made: list[Any] = [d async for d in tasks.find({}, {"contact_id": 1, "kind": 1})]
    finally:
        await client_db.close()
    assert [(d["contact_id"], d["kind"]) for d in made] == [(ids["abandoned"], "callback")]
    async with httpx.AsyncClient(base_url=intake.url, timeout=10, headers=SUPERVISOR) as client:
        kpis = (await client.get("/v1/kpis/operations", params={
            "center_id": CENTER, "since": "2026-11-27T17:00:00Z", "until": "2026-11-27T19:00:00Z",
        })).json()  # fmt: skip
    assert (kpis["failed"], kpis["short_abandoned"], kpis["abandoned"]) == (1, 1, 1)
    assert kpis["offered"] == 3 and kpis["answered"] == 0
    assert kpis["average_time_to_abandon_seconds"] == 45.0


async def post_taskrouter(client: httpx.AsyncClient, form: dict[str, str]) -> httpx.Response:
    url = f"{str(client.base_url).rstrip('/')}/v1/telephony/twilio-taskrouter/{CENTER}"
    signature = signatures.signature(TWILIO_TOKEN, url, form)
    return await client.post(url, content=urlencode(form), headers={
        "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip


@pytest.fixture
async def intake_and_sessions(tmp_path: Path) -> AsyncIterator[dict[str, ServiceProcess]]:
    async with running(tmp_path, "intake", "sessions") as started:
        yield started


async def test_a_taskrouter_answer_opens_the_session_while_the_caller_is_on_the_line(
    intake_and_sessions: dict[str, ServiceProcess],
) -> None:
    intake, sessions = intake_and_sessions["intake"], intake_and_sessions["sessions"]
    sid = unique("CA")
    steps = seq.twilio_taskrouter_answered(sid)
    live, after = steps[:4], steps[4:]  # up to reservation.accepted; then the call ends
    rng = random.Random(9)
    counselor = {"Authorization": f"Bearer {token_for('counselor', [CENTER], 'counselor-7')}"}

    async def send(client: httpx.AsyncClient, batch: list[tuple[str, dict[str, str]]]) -> None:
        doubled = batch + rng.sample(batch, len(batch))  # providers deliver twice
        for kind, form in rng.sample(doubled, len(doubled)):  # ... and out of order
            post = post_taskrouter if kind == "taskrouter" else post_twilio
            assert (await post(client, form)).status_code == 200

    contact_id = contact_id_for("center-01", "twilio", sid)
    async with httpx.AsyncClient(base_url=intake.url, timeout=10) as client:
        await send(client, live)

        async def session_open() -> list[Any]:
            async with httpx.AsyncClient(base_url=sessions.url, headers=counselor) as s:
                found = await s.get("/v1/sessions", params={"contact_id": contact_id})
                return found.json()["items"] if found.status_code == 200 else []

        opened = await wait_until(session_open, timeout=30, what="session open before completed")
        await send(client, after)
    kafka = KafkaSettings(topic_prefix=intake.env["HOTLINE_KAFKA_TOPIC_PREFIX"])
    records = await read_topic(kafka.bootstrap, kafka.topic_prefix + CONTACTS_TOPIC, expect=4,
                               settle=1.0)  # fmt: skip
    types = [json.loads(r.value)["type"] for r in records if r.key == contact_id.encode()]
    assert sorted(types) == sorted(["hotline.contact.started.v1", "hotline.contact.queued.v1",
                                    "hotline.contact.answered.v1", "hotline.contact.ended.v1"])  # fmt: skip
    assert len(opened) == 1 and opened[0]["status"] == "open"


async def test_a_documented_follow_up_call_with_a_high_re_screen_makes_a_new_safety_follow_up(
    services: dict[str, ServiceProcess],
) -> None:
    """The follow-up worker documents the call (kept encrypted), re-screens through intake
    with the follow-up's id; a high re-screen makes a new safety follow-up; a person who
    wants no more contact ends their follow-up."""
    intake, followup = services["intake"], services["followup"]
    mongo = MongoSettings(database_prefix=intake.env["HOTLINE_MONGODB_DATABASE_PREFIX"])
    sid = unique("CA")
    async with httpx.AsyncClient(base_url=intake.url, timeout=10) as client:
        for form in abandoned_after(sid, wait=45):
            assert (await post_twilio(client, form)).status_code == 200
    contact_id = contact_id_for("center-01", "twilio", sid)
    db = make_client(mongo)
    try:
        tasks = db[f"{mongo.database_prefix}hotline_followup"]["tasks"]

        async def callback() -> Any:
            return await tasks.find_one({"contact_id": contact_id, "kind": "callback"})

        task_id = (await wait_until(callback, timeout=60, what="callback task"))["_id"]
        high = {"q1": True, "q2": True, "q3": True, "q4": True, "q5": False, "q6": False}
        async with httpx.AsyncClient(timeout=10, headers=SUPERVISOR) as client:
            screen = await client.post(f"{intake.url}/v1/contacts/{contact_id}/screenings",
                                       json={"answers": high, "followup_id": task_id})  # fmt: skip
            assert screen.status_code == 201 and screen.json()["level"] == "high"
            documented = await client.post(f"{followup.url}/v1/followups/{task_id}/attempts", json={
                "outcome": "reached", "documentation": {
                    "mood": 3, "current_risk": "high", "screening_id": screen.json()["id"],
                    "safety_plan_reviewed": True, "lethal_means": "reduced",
                    "wants_more_contact": False, "notes": "talked with Maria about the pills"}})  # fmt: skip

        async def safety() -> Any:
            return await tasks.find_one({"contact_id": contact_id, "kind": "safety-follow-up"})

        new_task = await wait_until(safety, timeout=60, what="safety follow-up from the re-screen")
        stored = await tasks.find_one({"_id": task_id})
    finally:
        await db.close()
    assert documented.status_code == 201 and documented.json()["status"] == "completed"
    assert new_task["cause"] == f"rescreen:{screen.json()['id']}"
    assert stored is not None and len(stored["attempt_log"]) == 1
    assert stored["attempt_log"][0]["by"] == "supervisor-2"
    assert "Maria" not in json.dumps(stored, default=str)  # documentation encrypted at rest


async def test_a_callback_waits_for_a_number_and_starts_once_one_is_recorded(
    services: dict[str, ServiceProcess],
) -> None:
    intake, followup = services["intake"], services["followup"]
    mongo = MongoSettings(database_prefix=intake.env["HOTLINE_MONGODB_DATABASE_PREFIX"])
    sid = unique("CA")
    withheld = [seq.twilio_status(sid, "in-progress", 0, 0), seq.twilio_queue(sid, "hangup", 45),
                seq.twilio_status(sid, "completed", 1, 46)]  # fmt: skip
    async with httpx.AsyncClient(base_url=intake.url, timeout=10) as client:
        for form in withheld:
            assert (await post_twilio(client, {**form, "From": "anonymous"})).status_code == 200
    contact_id = contact_id_for("center-01", "twilio", sid)
    db = make_client(mongo)
    try:
        tasks = db[f"{mongo.database_prefix}hotline_followup"]["tasks"]

        async def callback(status: str) -> Any:
            return await tasks.find_one(
                {"contact_id": contact_id, "kind": "callback", "status": status}
            )

        waiting = await wait_until(
            lambda: callback("needs-number"), timeout=60, what="needs-number"
        )
        async with httpx.AsyncClient(timeout=10, headers=SUPERVISOR) as client:
            too_soon = await client.post(f"{followup.url}/v1/followups/{waiting['_id']}/attempts",
                                         json={"outcome": "no-answer"})  # fmt: skip
            bad = await client.put(f"{intake.url}/v1/contacts/{contact_id}/callback-number",
                                   json={"number": "555-0100"})  # fmt: skip
            recorded = await client.put(f"{intake.url}/v1/contacts/{contact_id}/callback-number",
                                        json={"number": "+15550100999"})  # fmt: skip
            started = await wait_until(
                lambda: callback("scheduled"), timeout=60, what="callback started"
            )
            released = await client.get(f"{intake.url}/v1/contacts/{contact_id}/caller",
                                        params={"reason": "callback"})  # fmt: skip
        stored = await db[f"{mongo.database_prefix}hotline_intake"]["contacts"].find_one(
            {"_id": contact_id}
        )
    finally:
        await db.close()
    assert too_soon.status_code == 409
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "number"
    assert recorded.status_code == 204 and started["_id"] == waiting["_id"]
    assert started["caller_token"] and released.json()["caller_number"] == "+15550100999"
    assert "5550100999" not in json.dumps(stored, default=str)  # encrypted at rest
