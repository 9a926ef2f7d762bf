"""Caring Contacts end to end: a series per consenting caller, its messages through a local
Twilio Messages API and a local SMTP server that record what they receive, the signed
delivery report and a STOP reply back, a worker's stop — against the running intake (which
releases the destination, audited) and follow-up services, over Kafka."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from aiosmtpd.controller import Controller
from hotline_cli.processes import free_port
from hotline_shared import twilio as signatures
from hotline_shared.crypto import caller_token
from hotline_shared.events import Envelope
from hotline_shared.ids import contact_id_for
from hotline_shared.kafka import EventBus
from hotline_shared.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

from tests.conftest import token_for
from tests.factories import SAMPLE_DATA, sample_event
from tests.integration.followup.support import CENTER, Stack, centers_file
from tests.integration.intake.test_telephony import TWILIO_TOKEN, post_twilio
from tests.support import Recorder, ServiceProcess, unique, wait_until
from tests.unit.intake import sequences as seq

pytestmark = pytest.mark.integration

ACCOUNT = "AC" + "0" * 31 + "1"
SMS_FROM = "+15550001000"
EMAIL_FROM = "care@riverside.example.org"
PEPPER = b"dev-pepper-center-01-5f2c9a"
# demo time (an hour is five seconds): the first message ~1 s after the close, the next one
# a minute later, the last in ten minutes
CADENCE_DAYS = [0.01, 0.5, 5]
ALERT_SECRET = "alert-secret-for-caring-tests"
WORKER = {"Authorization": f"Bearer {token_for('counselor', [CENTER], 'worker-3')}"}


def twilio_answers(n: int, _body: bytes) -> tuple[int, bytes]:
    """Twilio's Messages API: the first request gets a 503, the rest a message sid."""
    if n == 1:
        return 503, b""
    return 201, json.dumps({"sid": f"SM{uuid.uuid4().hex}", "status": "queued"}).encode()


class TwilioApi(Recorder):
    """Twilio's Messages API on loopback (a Recorder): what each request asked for."""

    def __init__(self) -> None:
        super().__init__(twilio_answers)

    def sent(self) -> list[dict[str, Any]]:
        return [{"path": r["path"], "form": dict(parse_qsl(r["raw"].decode())),
                 "auth": r["headers"].get("Authorization", "")} for r in self.requests]  # fmt: skip

    def messages_to(self, number: str) -> list[dict[str, Any]]:
        return [r for r in self.sent()[1:] if r["form"].get("To") == number]


class Mailbox:
    """A local SMTP server (aiosmtpd) keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        mailbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                mailbox.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
        self.controller.start()
        self.port = self.controller.port


@pytest.fixture
def twilio_api() -> Iterator[TwilioApi]:
    api = TwilioApi()
    yield api
    api.close()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    yield box
    box.controller.stop()


@pytest.fixture
def supervisor() -> Iterator[Recorder]:
    receiver = Recorder()
    yield receiver
    receiver.close()


@pytest.fixture
async def services(
    stack: Stack, tmp_path: Path, twilio_api: TwilioApi, mailbox: Mailbox, supervisor: Recorder
) -> AsyncIterator[tuple[ServiceProcess, ServiceProcess]]:
    path = centers_file(tmp_path, messaging={"twilio_account_sid": ACCOUNT, "sms_from": SMS_FROM,
                                             "email_from": EMAIL_FROM},
                        policy={"caring_cadence_days": CADENCE_DAYS},
                        alert_webhook_url=f"{supervisor.url}/alerts", alert_webhook_secret=ALERT_SECRET)  # fmt: skip
    shared = {"HOTLINE_KAFKA_TOPIC_PREFIX": stack.kafka.topic_prefix,
              "HOTLINE_MONGODB_DATABASE_PREFIX": stack.mongo.database_prefix,
              "HOTLINE_CENTERS_FILE": str(path)}  # fmt: skip
    intake = ServiceProcess("intake", shared, tmp_path)
    followup = stack.replica(**shared, HOTLINE_FOLLOWUP_TWILIO_API_URL=twilio_api.url,
                             HOTLINE_FOLLOWUP_SMTP_PORT=str(mailbox.port),
                             HOTLINE_FOLLOWUP_CARING_INTERVAL_SECONDS="0.2",
                             HOTLINE_FOLLOWUP_ALERT_INTERVAL_SECONDS="0.2")  # fmt: skip
    followup.env["HOTLINE_FOLLOWUP_INTAKE_URL"] = intake.url
    followup.env["HOTLINE_FOLLOWUP_PUBLIC_URL"] = followup.url
    for process in (intake, followup):
        process.start()
    for process in (intake, followup):
        await process.wait_ready()
    yield intake, followup
    intake.stop()


async def contact_with_number(intake: ServiceProcess, number: str) -> str:
    sid = unique("CA")
    async with httpx.AsyncClient(base_url=intake.url, timeout=10) as client:
        for form in seq.twilio_answered(sid, caller=number):
            assert (await post_twilio(client, form)).status_code == 200
    return contact_id_for("center-01", "twilio", sid)


def closed(contact_id: str, number: str | None, channel: str = "sms") -> Envelope:
    data = {**SAMPLE_DATA["hotline.session.closed.v1"], "contact_id": contact_id,
            "session_id": unique("sess-"), "risk_level": "low", "followup_consent": False,
            "caring_contacts_consent": True, "caring_contacts_channel": channel,
            "caller_token": caller_token(PEPPER, number) if number else None,
            "closed_at": datetime.now(UTC).isoformat()}  # fmt: skip
    return sample_event("hotline.session.closed.v1", id=unique("ev-"), centerid=CENTER,
                        time=datetime.now(UTC).isoformat(), data=data)  # fmt: skip


async def post_signed(followup: ServiceProcess, path: str, form: dict[str, str]) -> httpx.Response:
    url = f"{followup.url}{path}"
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(url, content=urlencode(form), headers={
            "X-Twilio-Signature": signatures.signature(TWILIO_TOKEN, url, form),
            "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip


async def series_for(db: AsyncDatabase[Document], contact_id: str) -> Document:
    async def found() -> Document | None:
        return await db["caring_series"].find_one({"contact_id": contact_id})

    return await wait_until(found, timeout=60, what=f"a caring series for {contact_id}")


def statuses(doc: Document) -> list[str]:
    return [m["status"] for m in doc["messages"]]


@pytest.mark.slow
async def test_an_sms_series_is_sent_reported_and_stopped_by_a_stop_reply(
    services: tuple[ServiceProcess, ServiceProcess], upstream: EventBus,
    followup_db: AsyncDatabase[Document], twilio_api: TwilioApi, stack: Stack,
) -> None:  # fmt: skip
    intake, followup = services
    number = "+12345550101"
    contact_id = await contact_with_number(intake, number)
    event = closed(contact_id, number)
    await upstream.publish(event)
    await upstream.publish(event)  # delivered twice: one series
    await wait_until(lambda: twilio_api.messages_to(number), timeout=60, what="the first SMS")
    request = twilio_api.messages_to(number)[0]
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert (
        request["auth"]
        == "Basic " + base64.b64encode(f"{ACCOUNT}:{TWILIO_TOKEN}".encode()).decode()
    )
    form = request["form"]
    assert form["From"] == SMS_FROM and "Reply STOP" in form["Body"]
    assert form["StatusCallback"] == f"{followup.url}/v1/messaging/twilio/{CENTER}/status"
    assert twilio_api.sent()[0]["form"]["To"] == number  # the first try got a 503: tried again

    async def sent() -> Document | None:
        doc = await series_for(followup_db, contact_id)
        return doc if doc["messages"][0].get("sent_at") else None

    series = await sent()
    assert series is not None and series["messages"][0]["tries"] == 2
    assert await followup_db["caring_series"].count_documents({"contact_id": contact_id}) == 1
    provider_id = series["messages"][0]["provider_id"]
    status_path = f"/v1/messaging/twilio/{CENTER}/status"
    async with httpx.AsyncClient(timeout=10) as client:
        forged = await client.post(f"{followup.url}{status_path}", headers={"X-Twilio-Signature": "bad"},
                                   data={"MessageSid": provider_id, "MessageStatus": "failed"})  # fmt: skip
    report = await post_signed(followup, status_path,
                               {"MessageSid": provider_id, "MessageStatus": "delivered"})  # fmt: skip
    assert forged.status_code == 403 and report.status_code == 204

    reply = await post_signed(followup, f"/v1/messaging/twilio/{CENTER}/inbound",
                              {"From": number, "To": SMS_FROM, "Body": "Stop", "MessageSid": "SMin"})  # fmt: skip
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/xml")
    doc = await followup_db["caring_series"].find_one({"_id": series["_id"]})
    assert (
        doc is not None and doc["status"] == "opted-out" and doc["opted_out_by"] == "caller-reply"
    )
    assert statuses(doc) == ["delivered", "cancelled", "cancelled"]
    assert doc["next_fire_at"] is None
    raw = json.dumps(doc, default=str)
    assert number not in raw and number[1:] not in raw  # no destination in follow-up

    async with httpx.AsyncClient(base_url=followup.url, headers=WORKER, timeout=10) as client:
        shown = await client.get(f"/v1/caring-series/{series['_id']}")
        summary = await client.get("/v1/sla/summary", params={"center_id": CENTER},
                                   headers={"Authorization": f"Bearer {token_for('supervisor', [CENTER])}"})  # fmt: skip
    assert shown.status_code == 200 and shown.json()["status"] == "opted-out"
    caring = summary.json()["by_kind"]["caring-contact"]
    assert caring["scheduled"] == 1 and caring["opted_out"] == 1
    assert caring["messages"]["cancelled"] == 2 and "missed" not in caring
    assert summary.json()["counts"] == {"on-track": 0, "at-risk": 0, "breached": 0}  # no SLA

    intake_db = followup_db.client[f"{stack.mongo.database_prefix}hotline_intake"]
    audit = [a async for a in intake_db["audit"].find({"contact_id": contact_id})]
    assert {(a["actor"], a["reason"]) for a in audit} == {("service:followup", "caring-contact")}


@pytest.mark.slow
async def test_a_stop_before_the_series_exists_still_stops_it(
    services: tuple[ServiceProcess, ServiceProcess], upstream: EventBus,
    followup_db: AsyncDatabase[Document], twilio_api: TwilioApi,
) -> None:  # fmt: skip
    intake, followup = services
    number = "+12345550102"
    contact_id = await contact_with_number(intake, number)
    event = closed(contact_id, number)  # closed now; the STOP comes while the event travels
    reply = await post_signed(followup, f"/v1/messaging/twilio/{CENTER}/inbound",
                              {"From": number, "To": SMS_FROM, "Body": "STOP"})  # fmt: skip
    assert reply.status_code == 200
    await upstream.publish(event)
    series = await series_for(followup_db, contact_id)
    assert series["status"] == "opted-out" and statuses(series) == ["cancelled"] * 3
    marker_number = "+12345550103"  # a later series is sent: this one's turn has passed
    marker = await contact_with_number(intake, marker_number)
    await upstream.publish(closed(marker, marker_number))
    await wait_until(lambda: twilio_api.messages_to(marker_number), timeout=60, what="marker SMS")
    assert twilio_api.messages_to(number) == []


@pytest.mark.slow
async def test_an_email_series_goes_through_smtp_and_a_worker_can_stop_it(
    services: tuple[ServiceProcess, ServiceProcess], upstream: EventBus,
    followup_db: AsyncDatabase[Document], mailbox: Mailbox,
) -> None:  # fmt: skip
    intake, followup = services
    contact_id = await contact_with_number(intake, "+12345550104")
    async with httpx.AsyncClient(base_url=intake.url, headers=WORKER, timeout=10) as client:
        recorded = await client.put(f"/v1/contacts/{contact_id}/email",
                                    json={"email": "person@example.net"})  # fmt: skip
        bad = await client.put(f"/v1/contacts/{contact_id}/email", json={"email": "nope"})
        as_service = await client.get(f"/v1/contacts/{contact_id}/caller",
                                      params={"reason": "caring-contact"})  # fmt: skip
    assert recorded.status_code == 204 and bad.status_code == 422
    assert as_service.status_code == 403  # only the follow-up service releases for caring
    await upstream.publish(closed(contact_id, None, channel="email"))
    await wait_until(lambda: mailbox.messages, timeout=60, what="the first caring email")
    message = mailbox.messages[0]
    assert message["To"] == "person@example.net" and message["From"] == EMAIL_FROM
    assert "Thinking of you" in message["Subject"]
    series = await series_for(followup_db, contact_id)
    async with httpx.AsyncClient(base_url=followup.url, timeout=10) as client:
        stopped = await client.post(f"/v1/caring-series/{series['_id']}/stop", headers=WORKER)
        other = await client.post(
            f"/v1/caring-series/{series['_id']}/stop",
            headers={"Authorization": f"Bearer {token_for('counselor', ['center-02'])}"},
        )
    assert stopped.status_code == 200 and other.status_code == 404
    body = stopped.json()
    assert body["status"] == "opted-out" and body["opted_out_by"] == "worker-3"
    assert [m["status"] for m in body["messages"]][1:] == ["cancelled", "cancelled"]
    assert "person@example.net" not in json.dumps(
        await followup_db["caring_series"].find_one({"_id": series["_id"]}), default=str
    )


@pytest.mark.slow
async def test_a_stop_from_the_number_texted_counts_and_any_other_reply_alerts_a_supervisor(
    services: tuple[ServiceProcess, ServiceProcess], upstream: EventBus,
    followup_db: AsyncDatabase[Document], twilio_api: TwilioApi, supervisor: Recorder,
) -> None:  # fmt: skip
    intake, followup = services
    number = "+12345550105"
    contact_id = await contact_with_number(intake, number)
    await upstream.publish(closed(contact_id, None))  # the session knew no caller token
    await wait_until(lambda: twilio_api.messages_to(number), timeout=60, what="the first SMS")
    reply = await post_signed(followup, f"/v1/messaging/twilio/{CENTER}/inbound",
                              {"From": number, "Body": "not doing great tbh", "MessageSid": "SMr1"})  # fmt: skip
    assert reply.status_code == 200

    def reply_alert() -> list[dict[str, Any]]:
        return supervisor.events("hotline.followup.caring-reply-received.v1")

    alerts = await wait_until(reply_alert, timeout=60, what="the reply alert")
    assert alerts[0]["data"]["contact_id"] == contact_id
    assert "great" not in json.dumps(alerts[0]) and number[2:] not in json.dumps(alerts[0])
    stop = await post_signed(followup, f"/v1/messaging/twilio/{CENTER}/inbound",
                             {"From": number, "Body": "STOP", "MessageSid": "SMr2"})  # fmt: skip
    assert stop.status_code == 200
    series = await series_for(followup_db, contact_id)
    assert series["status"] == "opted-out" and statuses(series)[1:] == ["cancelled", "cancelled"]
