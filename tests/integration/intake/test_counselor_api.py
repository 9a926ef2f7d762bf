"""Screening, escalation, EMS confirmation, audited caller release and KPIs, end to end
against the running intake service."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hotline_shared.events import RISK_TOPIC
from hotline_shared.ids import contact_id_for
from hotline_shared.mongo import make_client
from hotline_shared.settings import KafkaSettings, MongoSettings

from tests.conftest import token_for
from tests.integration.intake.test_telephony import CENTER, post_twilio
from tests.support import ServiceProcess, read_topic, unique
from tests.unit.intake import sequences as seq

pytestmark = pytest.mark.integration

COUNSELOR = {"Authorization": f"Bearer {token_for('counselor', [CENTER], 'counselor-7')}"}
SUPERVISOR = {"Authorization": f"Bearer {token_for('supervisor', [CENTER], 'supervisor-2')}"}
OTHER_CENTER = {"Authorization": f"Bearer {token_for('counselor', ['center-02'], 'counselor-9')}"}
HIGH = {"q1": True, "q2": True, "q3": True, "q4": True, "q5": False, "q6": False}
LOW = {"q1": True, "q2": False, "q6": False}


async def answered_contact(client: httpx.AsyncClient) -> str:
    sid = unique("CA")
    for form in seq.twilio_answered(sid):
        assert (await post_twilio(client, form)).status_code == 200
    return contact_id_for("center-01", "twilio", sid)


async def risk_events(kafka: KafkaSettings, contact_id: str, expect: int) -> list[dict[str, Any]]:
    records: list[Any] = await read_topic(kafka.bootstrap, f"{kafka.topic_prefix}{RISK_TOPIC}",
                                          expect=expect, settle=0.5, strict=False)  # fmt: skip
    return [json.loads(r.value) for r in records if r.key == contact_id.encode()]


async def test_screening_is_triaged_stored_published_and_returned(
    intake_service: ServiceProcess, intake_kafka: KafkaSettings
) -> None:
    async with httpx.AsyncClient(
        base_url=intake_service.url, timeout=10, headers=COUNSELOR
    ) as client:
        contact_id = await answered_contact(client)
        created = await client.post(f"/v1/contacts/{contact_id}/screenings", json={"answers": HIGH},
                                    headers={"Idempotency-Key": "k1"})  # fmt: skip
        again = await client.post(f"/v1/contacts/{contact_id}/screenings", json={"answers": HIGH},
                                  headers={"Idempotency-Key": "k1"})  # fmt: skip
        contact = await client.get(f"/v1/contacts/{contact_id}")
    assert created.status_code == 201
    assert created.json()["level"] == "high" and created.json()["computed_level"] == "high"
    assert again.json()["id"] == created.json()["id"]
    assert contact.json()["risk"]["level"] == "high"
    events = await risk_events(intake_kafka, contact_id, 1)
    assert [e["type"] for e in events] == ["hotline.risk.assessed.v1"]
    assert (
        events[0]["data"]["level"] == "high" and events[0]["data"]["assessed_by"] == "counselor-7"
    )


async def test_raise_by_counselor_lower_only_by_supervisor(intake_service: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=10) as client:
        contact_id = await answered_contact(client)
        url = f"/v1/contacts/{contact_id}/screenings"
        raised = await client.post(url, headers=COUNSELOR, json={
            "answers": LOW, "override": {"level": "moderate", "reason": "agitated, recent loss"}})  # fmt: skip
        lowered = await client.post(url, headers=COUNSELOR, json={
            "answers": HIGH, "override": {"level": "low", "reason": "caller was joking"}})  # fmt: skip
        by_supervisor = await client.post(url, headers=SUPERVISOR, json={
            "answers": HIGH, "override": {"level": "moderate", "reason": "reviewed with caller"}})  # fmt: skip
    assert raised.status_code == 201 and raised.json()["override"] == {
        "level": "moderate",
        "direction": "raised",
    }
    assert lowered.status_code == 403 and lowered.json()["errors"][0]["field"] == "override.level"
    assert by_supervisor.status_code == 201 and by_supervisor.json()["level"] == "moderate"


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"q1": True, "q2": False, "q3": True, "q6": False}, "answers.q3"),
        ({"q1": True, "q2": True, "q6": False}, "answers.q3"),
        ({"q1": False, "q2": False, "q6": True}, "answers.q6a"),
        ({"q1": "yes", "q2": False, "q6": False}, "answers.q1"),
        ({"q1": True, "q2": False, "q6": False, "q7": True}, "answers.q7"),
    ],
)
async def test_impossible_answer_sets_are_422_naming_the_field_and_change_nothing(
    intake_service: ServiceProcess, intake_mongo: MongoSettings, answers: dict[str, Any], field: str
) -> None:
    async with httpx.AsyncClient(
        base_url=intake_service.url, timeout=10, headers=COUNSELOR
    ) as client:
        contact_id = await answered_contact(client)
        response = await client.post(
            f"/v1/contacts/{contact_id}/screenings", json={"answers": answers}
        )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    mongo = make_client(intake_mongo)
    try:
        db = mongo[f"{intake_mongo.database_prefix}hotline_intake"]
        assert await db["screenings"].count_documents({"contact_id": contact_id}) == 0
    finally:
        await mongo.close()


async def test_escalation_and_ems_confirmation_are_published(
    intake_service: ServiceProcess, intake_kafka: KafkaSettings
) -> None:
    async with httpx.AsyncClient(
        base_url=intake_service.url, timeout=10, headers=COUNSELOR
    ) as client:
        contact_id = await answered_contact(client)
        esc = await client.post(f"/v1/contacts/{contact_id}/escalations",
                                json={"reason": "attempt-in-progress", "actions": ["ems-dispatched"]})  # fmt: skip
        confirmed = await client.post(
            f"/v1/contacts/{contact_id}/escalations/{esc.json()['id']}/ems-confirmation",
            json={"reached": True},
        )
        unknown = await client.post(f"/v1/contacts/{contact_id}/escalations/nope/ems-confirmation",
                                    json={"reached": True})  # fmt: skip
    assert esc.status_code == 201 and confirmed.status_code == 200
    assert confirmed.json()["ems"]["reached"] is True
    assert unknown.status_code == 404
    types = [e["type"] for e in await risk_events(intake_kafka, contact_id, 2)]
    assert types == ["hotline.risk.escalated.v1", "hotline.risk.ems-confirmed.v1"]


async def test_caller_number_is_released_only_to_the_center_and_every_release_is_audited(
    intake_service: ServiceProcess, intake_mongo: MongoSettings
) -> None:
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=10) as client:
        contact_id = await answered_contact(client)
        url = f"/v1/contacts/{contact_id}/caller"
        released = await client.get(url, params={"reason": "callback"}, headers=COUNSELOR)
        no_reason = await client.get(url, headers=COUNSELOR)
        other = await client.get(url, params={"reason": "callback"}, headers=OTHER_CENTER)
        anonymous = await client.get(url, params={"reason": "callback"})
    assert released.status_code == 200 and released.json()["caller_number"] == "+12349013030"
    assert (
        no_reason.status_code == 422 and other.status_code == 404 and anonymous.status_code == 401
    )
    mongo = make_client(intake_mongo)
    try:
        db = mongo[f"{intake_mongo.database_prefix}hotline_intake"]
        audit = [d async for d in db["audit"].find({"contact_id": contact_id})]
        raw = await db["contacts"].find_one({"_id": contact_id})
    finally:
        await mongo.close()
    assert [(a["actor"], a["reason"], a["action"]) for a in audit] == [
        ("counselor-7", "answering", "contact.take"),  # nobody answered it by name: now theirs
        ("counselor-7", "callback", "caller-number.read"),
    ]
    assert raw is not None and "2349013030" not in json.dumps(raw, default=str)


async def test_operations_kpis_for_the_window(intake_service: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=10) as client:
        for _ in range(2):
            await answered_contact(client)
        for form in seq.twilio_abandoned(unique("CA")):
            await post_twilio(client, form)
        params = {
            "center_id": CENTER,
            "since": "2026-11-27T17:00:00Z",
            "until": "2026-11-27T19:00:00Z",
        }
        kpis = await client.get("/v1/kpis/operations", params=params, headers=SUPERVISOR)
        forbidden = await client.get("/v1/kpis/operations", params=params, headers=COUNSELOR)
        empty = await client.get("/v1/kpis/operations", headers=SUPERVISOR,
                                 params={**params, "until": "2026-11-27T16:00:00Z"})  # fmt: skip
    body = kpis.json()
    assert kpis.status_code == 200
    assert body["offered"] >= 3 and body["answered"] >= 2 and body["abandoned"] >= 1
    assert body["offered"] == body["answered"] + body["abandoned"] + body["transferred"]
    assert body["average_speed_to_answer_seconds"] == 14.0  # every answered sample waited 14 s
    assert body["service_level"] == round(body["answered"] / body["offered"], 4)
    assert forbidden.status_code == 403 and empty.status_code == 422


async def test_an_interrupted_screen_is_kept_incomplete_never_none_and_completed_later(
    intake_service: ServiceProcess, intake_kafka: KafkaSettings
) -> None:
    async with httpx.AsyncClient(
        base_url=intake_service.url, timeout=10, headers=COUNSELOR
    ) as client:
        contact_id = await answered_contact(client)
        url = f"/v1/contacts/{contact_id}/screenings"
        # the caller hangs up after Q2
        partial = await client.post(
            url, json={"answers": {"q1": True, "q2": True}, "complete": False}
        )
        gap = await client.post(url, json={"answers": {"q2": True}, "complete": False})
        keyed = {"Idempotency-Key": unique("k")}
        await client.post(
            url, json={"answers": {"q1": True, "q2": False}, "complete": False}, headers=keyed
        )
        reused = await client.post(url, json={"answers": {**LOW}}, headers=keyed)
        unfinished = await client.post(url, json={"answers": {"q1": True, "q2": True}})
        contact_meanwhile = (await client.get(f"/v1/contacts/{contact_id}")).json()
        screening = partial.json()["id"]
        resumed = await client.put(f"{url}/{screening}", json={"answers": {**HIGH}})
        again = await client.put(f"{url}/{screening}", json={"answers": {**LOW}})
        contact = (await client.get(f"/v1/contacts/{contact_id}")).json()
    assert partial.status_code == 201
    assert partial.json()["status"] == "incomplete" and partial.json()["level"] is None
    assert partial.json()["next_question"] == "q3"
    assert gap.status_code == 422 and gap.json()["errors"][0]["field"] == "answers.q1"
    assert reused.status_code == 409 and reused.json()["errors"][0]["field"] == "Idempotency-Key"
    assert unfinished.status_code == 422 and unfinished.json()["errors"][0]["field"] == "answers.q3"
    assert contact_meanwhile["risk"] is None  # not "none": not triaged at all
    assert resumed.status_code == 200 and resumed.json()["status"] == "complete"
    assert resumed.json()["id"] == screening and resumed.json()["level"] == "high"
    assert again.status_code == 409
    assert contact["risk"]["level"] == "high" and contact["risk"]["screening_id"] == screening
    events = await risk_events(intake_kafka, contact_id, 1)
    assert [(e["type"], e["data"]["screening_id"]) for e in events] == [
        ("hotline.risk.assessed.v1", screening)
    ]
