"""Each provider's realistic call sequence, posted to the running intake service, yields
exactly the expected contact events on Kafka, in order, with no phone number in them."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hotline_intake.adapters.telephony import pbx
from hotline_shared import twilio as signatures
from hotline_shared.events import CONTACTS_TOPIC
from hotline_shared.ids import contact_id_for
from hotline_shared.mongo import make_client
from hotline_shared.settings import KafkaSettings, MongoSettings

from tests.support import ServiceProcess, read_topic, unique
from tests.unit.intake import sequences as seq

pytestmark = pytest.mark.integration

CENTER = "center-01"
TWILIO_TOKEN = "dev-twilio-token-center-01"
CONNECT_KEY = "dev-connect-key-center-01"
WEBHOOK_SECRET = "dev-webhook-secret-center-01"
CALLER = "+12349013030"

ANSWERED = ["started", "queued", "answered", "ended"]
ABANDONED = ["started", "queued", "abandoned"]


async def post_twilio(
    client: httpx.AsyncClient, form: dict[str, str], *, token: str = TWILIO_TOKEN
) -> httpx.Response:
    url = f"{str(client.base_url).rstrip('/')}/v1/telephony/twilio/{CENTER}"
    signature = signatures.signature(token, url, form)
    return await client.post(url, content=urlencode(form), headers={
        "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip


async def post_connect(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/v1/telephony/amazon-connect/{CENTER}", json=body,
                             headers={"X-Api-Key": CONNECT_KEY})  # fmt: skip


async def post_pbx(client: httpx.AsyncClient, event: pbx.PbxEvent) -> httpx.Response:
    body = event.model_dump_json().encode()
    header = pbx.sign(WEBHOOK_SECRET, body, int(time.time()))
    return await client.post(f"/v1/telephony/events/{CENTER}", content=body,
                             headers={"X-Hotline-Signature": header, "Content-Type": "application/json"})  # fmt: skip


def types_for(records: Sequence[Any], contact_id: str) -> list[str]:
    mine = sorted((r for r in records if r.key == contact_id.encode()), key=lambda r: r.offset)
    return [json.loads(r.value)["type"].split(".")[2] for r in mine]


async def all_contact_records(kafka: KafkaSettings, expect: int) -> list[Any]:
    return await read_topic(kafka.bootstrap, f"{kafka.topic_prefix}{CONTACTS_TOPIC}",
                            expect=expect, settle=1.0, timeout=30, strict=False)  # fmt: skip


async def test_provider_sequences_produce_exactly_the_expected_events_in_order(
    intake_service: ServiceProcess, intake_kafka: KafkaSettings
) -> None:
    expected: dict[str, list[str]] = {}
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=10) as client:
        # Twilio answered: "completed" arrives before the <Enqueue action> result.
        sid = unique("CA")
        forms = seq.twilio_answered(sid)
        for form in (forms[0], forms[1], forms[3], forms[2]):
            assert (await post_twilio(client, form)).status_code == 200
        expected[contact_id_for("center-01", "twilio", sid)] = ANSWERED

        sid = unique("CA")
        for form in seq.twilio_abandoned(sid):
            assert (await post_twilio(client, form)).status_code == 200
        expected[contact_id_for("center-01", "twilio", sid)] = ABANDONED

        for scenario, events, outcome in (("answered", seq.connect_answered, ANSWERED),
                                          ("abandoned", seq.connect_abandoned, ABANDONED)):  # fmt: skip
            cid = unique(f"connect-{scenario}-")
            bodies = events(cid)
            random.Random(7).shuffle(bodies)  # AWS does not order its events
            for body in bodies:
                assert (await post_connect(client, body)).status_code == 200
            expected[contact_id_for("center-01", "amazon-connect", cid)] = outcome

        conv = unique("conv-")
        for topic, body in seq.genesys(conv, "ANSWERED"):
            mapped = pbx.from_genesys(topic, body)
            assert mapped is not None
            assert (await post_pbx(client, mapped)).status_code == 200
        expected[contact_id_for("center-01", "genesys", conv)] = ANSWERED

        uid = unique("ami-")
        for raw in seq.ami(uid, abandoned=True):
            mapped = pbx.from_ami(raw, received_at=seq.T0)
            assert mapped is not None
            assert (await post_pbx(client, mapped)).status_code == 200
        expected[contact_id_for("center-01", "asterisk", uid)] = ABANDONED

        cid = unique("ari-")
        for raw in seq.ari(cid):
            mapped = pbx.from_ari(raw)
            assert mapped is not None
            assert (await post_pbx(client, mapped)).status_code == 200
        expected[contact_id_for("center-01", "asterisk", cid)] = ANSWERED

        uid = unique("fs-")
        for headers in seq.esl(uid, answered=True):
            mapped = pbx.from_esl(headers)
            assert mapped is not None
            assert (await post_pbx(client, mapped)).status_code == 200
        expected[contact_id_for("center-01", "freeswitch", uid)] = ANSWERED

    records = await all_contact_records(intake_kafka, sum(map(len, expected.values())))
    for contact_id, types in expected.items():
        assert types_for(records, contact_id) == types, contact_id
    for record in records:
        text = record.value.decode()
        assert "2349013030" not in text, "a phone number reached Kafka"
        event = json.loads(text)
        assert record.key == event["subject"].encode()


async def test_a_webhook_delivered_twice_is_answered_2xx_and_changes_nothing(
    intake_service: ServiceProcess, intake_kafka: KafkaSettings
) -> None:
    sid = unique("CA")
    form = seq.twilio_status(sid, "no-answer", 0, 5)
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=10) as client:
        first = await post_twilio(client, form)
        second = await post_twilio(client, form)
    assert first.status_code == second.status_code == 200
    assert first.json()["effects"] == ["started", "ended"]
    assert second.json()["effects"] == []
    records = await all_contact_records(intake_kafka, 2)
    assert types_for(records, contact_id_for("center-01", "twilio", sid)) == ["started", "ended"]


async def test_forged_twilio_signature_gets_403_and_publishes_nothing(
    intake_service: ServiceProcess, intake_kafka: KafkaSettings, intake_mongo: MongoSettings
) -> None:
    sid = unique("CA")
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=10) as client:
        forged = await post_twilio(
            client, seq.twilio_status(sid, "in-progress", 0, 0), token="guess"
        )
        unsigned = await client.post(f"/v1/telephony/twilio/{CENTER}",
                                     content=urlencode(seq.twilio_status(sid, "completed", 1, 9)),
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        # a marker contact published after the forged ones: once it is on Kafka, anything the
        # forged requests had published would be there too
        marker = unique("CA")
        assert (
            await post_twilio(client, seq.twilio_status(marker, "busy", 0, 0))
        ).status_code == 200
    assert forged.status_code == unsigned.status_code == 403
    assert forged.headers["content-type"] == "application/problem+json"
    assert forged.json()["errors"][0]["field"] == "X-Twilio-Signature"
    records = await all_contact_records(intake_kafka, 1)
    assert types_for(records, contact_id_for("center-01", "twilio", marker)) == ["started", "ended"]
    assert types_for(records, contact_id_for("center-01", "twilio", sid)) == []
    client_db = make_client(intake_mongo)
    try:
        db = client_db[f"{intake_mongo.database_prefix}hotline_intake"]
        assert (
            await db["contacts"].find_one({"_id": contact_id_for("center-01", "twilio", sid)})
            is None
        )
    finally:
        await client_db.close()


async def test_unknown_center_is_404_and_stale_pbx_signature_is_403(
    intake_service: ServiceProcess,
) -> None:
    event = pbx.PbxEvent(event_id="e1", call_id="x", provider="asterisk", kind="started",  # type: ignore[arg-type]
                         occurred_at=seq.T0)  # fmt: skip
    body = event.model_dump_json().encode()
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=10) as client:
        unknown = await client.post("/v1/telephony/events/nowhere", content=body)
        stale = await client.post(f"/v1/telephony/events/{CENTER}", content=body,
                                  headers={"X-Hotline-Signature": pbx.sign(WEBHOOK_SECRET, body, int(time.time()) - 301)})  # fmt: skip
        bad_key = await client.post(
            f"/v1/telephony/amazon-connect/{CENTER}", json={}, headers={"X-Api-Key": "nope"}
        )
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "center_id"
    assert stale.status_code == 403
    assert bad_key.status_code == 403
