"""Sessions against the real stack, two replicas running."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from hotline_sessions.service_layer import session_id_for
from hotline_shared.events import (
    RISK_TOPIC,
    SESSIONS_TOPIC,
    ContactAnswered,
    ContactAnsweredData,
    ContactEnded,
    ContactEndedData,
    RiskAssessed,
    RiskAssessedData,
    RiskEscalated,
    RiskEscalatedData,
    RiskLevel,
    new_event,
)  # fmt: skip
from hotline_shared.kafka import EventBus
from hotline_shared.mongo import make_client
from hotline_shared.settings import KafkaSettings, MongoSettings

from tests.conftest import token_for
from tests.support import ServiceProcess, read_topic, unique, wait_until

pytestmark = pytest.mark.integration

CENTER = "center-01"
COUNSELOR = {"Authorization": f"Bearer {token_for('counselor', [CENTER], 'counselor-7')}"}
OTHER = {"Authorization": f"Bearer {token_for('counselor', ['center-02'], 'counselor-9')}"}
SECRET_NOTE = "sister Maria took the pills away"


def contact_data(contact_id: str, **extra: Any) -> dict[str, Any]:
    return {"contact_id": contact_id, "provider": "twilio", "provider_contact_id": contact_id,
            "channel": "voice", "occurred_at": datetime.now(UTC), "caller_token": "ab" * 32,
            "caller_reachable": True, **extra}  # fmt: skip


async def answer(bus: EventBus, contact_id: str, times: int = 1) -> None:
    event = new_event(ContactAnswered, data=ContactAnsweredData(**contact_data(contact_id), counselor_id="counselor-7"),
                      center_id=CENTER, source="hotline/intake", time=datetime.now(UTC), cause=(contact_id,))  # fmt: skip
    for _ in range(times):
        await bus.publish(event)


async def session_events(
    kafka: KafkaSettings, contact_id: str, expect: int, settle: float = 1.0
) -> list[dict[str, Any]]:
    records: list[Any] = await read_topic(kafka.bootstrap, f"{kafka.topic_prefix}{SESSIONS_TOPIC}",
                                          expect=expect, settle=settle, strict=False)  # fmt: skip
    return [json.loads(r.value) for r in records if r.key == contact_id.encode()]


async def wait_for_session(url: str, session_id: str) -> None:
    async def exists() -> bool:
        async with httpx.AsyncClient(base_url=url, headers=COUNSELOR) as client:
            return (await client.get(f"/v1/sessions/{session_id}")).status_code == 200

    await wait_until(exists, timeout=30, what=f"session {session_id}")


async def test_answered_delivered_three_times_opens_one_session(
    sessions_replicas: list[ServiceProcess], upstream: EventBus, sessions_kafka: KafkaSettings
) -> None:
    contact_id = unique("contact-")
    await answer(upstream, contact_id, times=3)
    session_id = session_id_for(contact_id, 1)
    await wait_for_session(sessions_replicas[0].url, session_id)
    events = await session_events(sessions_kafka, contact_id, expect=1, settle=2.0)
    assert [e["type"] for e in events] == ["hotline.session.opened.v1"]
    assert events[0]["data"]["session_id"] == session_id
    async with httpx.AsyncClient(base_url=sessions_replicas[1].url, headers=COUNSELOR) as client:
        listed = (await client.get("/v1/sessions", params={"contact_id": contact_id})).json()
        forbidden = await client.get(f"/v1/sessions/{session_id}", headers=OTHER)
        missing = await client.get("/v1/sessions/nope")
    assert [s["id"] for s in listed["items"]] == [session_id]
    # another center's session answers exactly as an unknown one does
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.json()["title"] == missing.json()["title"] == "Unknown session"


async def test_twenty_concurrent_autosaves_on_one_version_one_wins_nothing_lost(
    sessions_replicas: list[ServiceProcess], upstream: EventBus, sessions_mongo: MongoSettings
) -> None:
    contact_id = unique("contact-")
    await answer(upstream, contact_id)
    session_id = session_id_for(contact_id, 1)
    await wait_for_session(sessions_replicas[0].url, session_id)
    texts = [f"{SECRET_NOTE} #{n}" for n in range(20)]

    async def save(client: httpx.AsyncClient, text: str, base: int) -> httpx.Response:
        return await client.put(f"/v1/sessions/{session_id}/notes", headers={"If-Match": str(base)},
                                json={"free_text": text, "exploring": {"distress": 8}})  # fmt: skip

    clients = [
        httpx.AsyncClient(base_url=r.url, headers=COUNSELOR, timeout=30) for r in sessions_replicas
    ]
    try:
        responses = await asyncio.gather(*(save(clients[n % 2], t, 0) for n, t in enumerate(texts)))
        codes = [r.status_code for r in responses]
        assert codes.count(200) == 1 and codes.count(409) == 19
        assert all(r.json()["current_version"] == 1 for r in responses if r.status_code == 409)
        # each loser re-reads the current version and saves again: nothing is lost
        for text, response in zip(texts, responses, strict=True):
            if response.status_code == 409:
                current = response.json()["current_version"]
                while (retry := await save(clients[0], text, current)).status_code == 409:
                    current = retry.json()["current_version"]
        history = (await clients[1].get(f"/v1/sessions/{session_id}/notes/versions")).json()[
            "items"
        ]
    finally:
        for client in clients:
            await client.aclose()
    assert [v["version"] for v in history] == list(range(1, 21))
    assert sorted(v["content"]["free_text"] for v in history) == sorted(texts)

    mongo = make_client(sessions_mongo)
    try:
        db = mongo[f"{sessions_mongo.database_prefix}hotline_sessions"]
        raw = [d async for d in db["versions"].find({"session_id": session_id})]
        session_raw = await db["sessions"].find_one({"_id": session_id})
    finally:
        await mongo.close()
    dump = json.dumps(raw, default=str) + json.dumps(session_raw, default=str)
    assert len(raw) == 20 and SECRET_NOTE not in dump and "Maria" not in dump


async def test_close_publishes_session_closed_with_risk_from_the_risk_topic(
    sessions_replicas: list[ServiceProcess], upstream: EventBus, sessions_kafka: KafkaSettings,
    sessions_mongo: MongoSettings,
) -> None:  # fmt: skip
    contact_id = unique("contact-")
    await answer(upstream, contact_id)
    assessed = RiskAssessedData(contact_id=contact_id, screening_id="s1", level=RiskLevel.HIGH,
                                computed_level=RiskLevel.HIGH, rule_version="v1", assessed_by="c7",
                                assessed_at=datetime.now(UTC))  # fmt: skip
    await upstream.publish(new_event(RiskAssessed, data=assessed, center_id=CENTER, source="hotline/intake",
                                     time=datetime.now(UTC), cause=("s1", contact_id)))  # fmt: skip
    session_id = session_id_for(contact_id, 1)
    await wait_for_session(sessions_replicas[0].url, session_id)
    mongo = make_client(sessions_mongo)
    try:
        contacts = mongo[f"{sessions_mongo.database_prefix}hotline_sessions"]["contacts"]

        async def risk_recorded() -> bool:
            doc = await contacts.find_one({"_id": contact_id})
            return bool(doc and doc.get("risk_level") == "high")

        await wait_until(risk_recorded, timeout=30, what="risk consumed")
    finally:
        await mongo.close()
    async with httpx.AsyncClient(base_url=sessions_replicas[1].url, headers=COUNSELOR) as client:
        body = {
            "followup_consent": True,
            "caring_contacts_consent": True,
            "caring_contacts_channel": "sms",
        }
        first = await client.post(f"/v1/sessions/{session_id}/close", json=body)
        again = await client.post(f"/v1/sessions/{session_id}/close", json=body)
        late_notes = await client.put(
            f"/v1/sessions/{session_id}/notes", headers={"If-Match": "0"}, json={}
        )
        addendum = await client.post(
            f"/v1/sessions/{session_id}/addenda", json={"text": "called back, safe"}
        )
        bad = await client.post(
            f"/v1/sessions/{session_id}/close", json={"disposition": "vanished"}
        )
        read = (await client.get(f"/v1/sessions/{session_id}")).json()
    assert first.status_code == again.status_code == 200
    assert first.json()["close"]["risk_level"] == "high"
    assert late_notes.status_code == 409 and addendum.status_code == 201
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "disposition"
    assert read["status"] == "closed" and len(read["addenda"]) == 1
    events = await session_events(sessions_kafka, contact_id, expect=2)
    closed = [e for e in events if e["type"] == "hotline.session.closed.v1"]
    assert len(closed) == 1
    assert (
        closed[0]["data"]["risk_level"] == "high" and closed[0]["data"]["disposition"] == "resolved"
    )
    assert "called back" not in json.dumps(events)


async def test_documentation_overdue_fires_once_with_two_replicas(
    sessions_replicas: list[ServiceProcess], upstream: EventBus, sessions_kafka: KafkaSettings
) -> None:
    contact_ids = [unique("contact-") for _ in range(5)]
    for contact_id in contact_ids:
        await answer(upstream, contact_id)
        ended = ContactEndedData(**contact_data(contact_id))
        await upstream.publish(new_event(ContactEnded, data=ended, center_id=CENTER, source="hotline/intake",
                                         time=datetime.now(UTC), cause=(contact_id,)))  # fmt: skip

    async def all_fired() -> list[Any]:
        records: list[Any] = await read_topic(sessions_kafka.bootstrap, f"{sessions_kafka.topic_prefix}{SESSIONS_TOPIC}",
                                              expect=0, strict=False, settle=0.3)  # fmt: skip
        overdue = [json.loads(r.value) for r in records if b"documentation-overdue" in r.value]
        return overdue if {e["subject"] for e in overdue} >= set(contact_ids) else []

    await wait_until(all_fired, timeout=60, what="overdue events")
    await asyncio.sleep(0)  # let both replicas run further checks before counting
    deadline = datetime.now(UTC) + timedelta(seconds=3)
    while datetime.now(UTC) < deadline:  # several more overdue-check rounds on both replicas
        overdue = await all_fired()
    for contact_id in contact_ids:
        mine = [e for e in overdue if e["subject"] == contact_id]
        assert len(mine) == 1, contact_id


async def test_autosaves_racing_a_close_on_two_replicas_lose_nothing_accepted(
    sessions_replicas: list[ServiceProcess], upstream: EventBus
) -> None:
    """20 writers on one session: 19 autosaving (re-basing on each 409) and one closing.
    Every autosave answered 200 is in the history; after the close, autosaves get 409."""
    contact_id = unique("contact-")
    await answer(upstream, contact_id)
    session_id = session_id_for(contact_id, 1)
    await wait_for_session(sessions_replicas[0].url, session_id)
    clients = [
        httpx.AsyncClient(base_url=r.url, headers=COUNSELOR, timeout=30) for r in sessions_replicas
    ]
    accepted: list[str] = []
    refused_after_close: list[str] = []

    async def autosave(n: int) -> None:
        client, text, base = clients[n % 2], f"note {n}", 0
        for _ in range(200):
            r = await client.put(f"/v1/sessions/{session_id}/notes", headers={"If-Match": str(base)},
                                 json={"free_text": text})  # fmt: skip
            if r.status_code == 200:
                accepted.append(text)
                return
            assert r.status_code in (409, 503), r.text
            if r.status_code == 409 and r.json().get("title") == "Session is closed":
                refused_after_close.append(text)
                return
            base = r.json().get("current_version", base)
        raise AssertionError("autosave neither accepted nor refused")

    async def close() -> httpx.Response:
        await asyncio.sleep(0.05)  # let some autosaves land first (not synchronisation)
        body = {"followup_consent": False, "caring_contacts_consent": False}
        return await clients[1].post(f"/v1/sessions/{session_id}/close", json=body)

    try:
        *_, closed = await asyncio.gather(*(autosave(n) for n in range(19)), close())
        history = (await clients[0].get(f"/v1/sessions/{session_id}/notes/versions")).json()[
            "items"
        ]
        read = (await clients[0].get(f"/v1/sessions/{session_id}")).json()
    finally:
        for client in clients:
            await client.aclose()
    assert closed.status_code == 200 and read["status"] == "closed"
    assert len(accepted) + len(refused_after_close) == 19
    assert sorted(v["content"]["free_text"] for v in history) == sorted(accepted)
    assert [v["version"] for v in history] == list(range(1, len(accepted) + 1))
    assert read["version"] == len(accepted)


SUPERVISOR = {"Authorization": f"Bearer {token_for('supervisor', [CENTER], 'supervisor-2')}"}


def assessed(contact_id: str, level: RiskLevel, screening: str = "s1") -> Any:
    data = RiskAssessedData(contact_id=contact_id, screening_id=screening, level=level,
                            computed_level=level, rule_version="v1", assessed_by="c7",
                            assessed_at=datetime.now(UTC))  # fmt: skip
    return new_event(RiskAssessed, data=data, center_id=CENTER, source="hotline/intake",
                     time=datetime.now(UTC), cause=(screening, contact_id))  # fmt: skip


async def test_a_counselor_cannot_close_below_the_assessed_risk_a_supervisor_can_with_a_reason(
    sessions_replicas: list[ServiceProcess], upstream: EventBus, sessions_kafka: KafkaSettings,
    sessions_mongo: MongoSettings,
) -> None:  # fmt: skip
    from hotline_followup.domain.policy import Policy, plan
    from hotline_shared.events import parse_event

    contact_id, other_id = unique("contact-"), unique("contact-")
    for cid in (contact_id, other_id):
        await answer(upstream, cid)
        await upstream.publish(assessed(cid, RiskLevel.HIGH))
    await upstream.publish(new_event(RiskEscalated, data=RiskEscalatedData(
        contact_id=other_id, escalation_id="e1", reason="attempt-in-progress", escalated_by="c7",
        escalated_at=datetime.now(UTC)), center_id=CENTER, source="hotline/intake",
        time=datetime.now(UTC), cause=("e1",)))  # fmt: skip
    session_id, other_session = session_id_for(contact_id, 1), session_id_for(other_id, 1)
    await wait_for_session(sessions_replicas[0].url, session_id)
    await wait_for_session(sessions_replicas[0].url, other_session)
    url = f"{sessions_replicas[1].url}/v1/sessions"
    consent = {"followup_consent": True, "caring_contacts_consent": False}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        lowered = await client.post(f"/{session_id}/close", headers=COUNSELOR,
                                    json={**consent, "risk_level": "low"})  # fmt: skip
        cleared = await client.post(f"/{other_session}/close", headers=COUNSELOR,
                                    json={**consent, "escalated": False})  # fmt: skip
        no_reason = await client.post(f"/{session_id}/close", headers=SUPERVISOR,
                                      json={**consent, "risk_level": "low"})  # fmt: skip
        still_open = (await client.get(f"/{session_id}", headers=COUNSELOR)).json()
        by_counselor = await client.post(f"/{session_id}/close", headers=COUNSELOR, json=consent)
        by_supervisor = await client.post(f"/{other_session}/close", headers=SUPERVISOR, json={
            **consent, "escalated": False, "risk_level": "moderate",
            "risk_reason": "EMS found a misdial; spoke with the caller, safe at home"})  # fmt: skip
    assert lowered.status_code == 403 and lowered.json()["errors"][0]["field"] == "risk_level"
    assert cleared.status_code == 403 and cleared.json()["errors"][0]["field"] == "escalated"
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "risk_reason"
    assert still_open["status"] == "open"  # refused closes changed nothing
    assert by_counselor.status_code == 200 and by_counselor.json()["close"]["risk_level"] == "high"
    assert by_supervisor.status_code == 200
    assert by_supervisor.json()["close"]["risk_lowered"] is True
    assert "misdial" not in json.dumps(by_supervisor.json())
    events = await session_events(sessions_kafka, contact_id, expect=2)
    closed = [
        parse_event(json.dumps(e)) for e in events if e["type"] == "hotline.session.closed.v1"
    ]
    assert [c.data.risk_level for c in closed] == ["high"]
    # ... so the safety follow-up is still planned from it
    assert [str(t.kind) for t in plan(closed[0], Policy()).create] == ["safety-follow-up"]
    mongo = make_client(sessions_mongo)
    try:
        raw = await mongo[f"{sessions_mongo.database_prefix}hotline_sessions"]["sessions"].find_one(
            {"_id": other_session})  # fmt: skip
    finally:
        await mongo.close()
    assert raw is not None and "misdial" not in json.dumps(raw, default=str)  # encrypted at rest


async def test_a_close_sent_before_the_risk_reaches_sessions_still_carries_that_risk(
    sessions_replicas: list[ServiceProcess], upstream: EventBus, sessions_kafka: KafkaSettings
) -> None:
    """The screening is published, then the close is sent at once, while sessions' risk
    consumer is still working through a backlog in front of it: the close waits for it."""
    contact_id = unique("contact-")
    await answer(upstream, contact_id)
    session_id = session_id_for(contact_id, 1)
    await wait_for_session(sessions_replicas[0].url, session_id)
    producer = AIOKafkaProducer(bootstrap_servers=sessions_kafka.bootstrap)
    await producer.start()
    try:
        topic = f"{sessions_kafka.topic_prefix}{RISK_TOPIC}"
        backlog = [assessed(f"{contact_id}-{n}", RiskLevel.LOW) for n in range(300)]
        # the backlog on the contact's own partition: everything in front of its screening
        await asyncio.gather(*(producer.send_and_wait(topic, e.model_dump_json().encode(),
                                                      key=contact_id.encode()) for e in backlog))  # fmt: skip
    finally:
        await producer.stop()
    await upstream.publish(assessed(contact_id, RiskLevel.HIGH, screening="s-last"))
    async with httpx.AsyncClient(
        base_url=sessions_replicas[1].url, headers=COUNSELOR, timeout=60
    ) as client:
        closed = await client.post(f"/v1/sessions/{session_id}/close",
                                   json={"followup_consent": True, "caring_contacts_consent": False})  # fmt: skip
    assert closed.status_code == 200, closed.text
    assert closed.json()["close"]["risk_level"] == "high"
