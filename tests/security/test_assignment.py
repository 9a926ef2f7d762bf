"""Least privilege between counselors: a contact and its session are the answering
counselor's (or the first to take one nobody answered by name); another counselor is refused
unless they break the glass with a reason, which is audited and alerts a supervisor once."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from hotline_sessions.service_layer import session_id_for
from hotline_shared.ids import contact_id_for
from hotline_shared.mongo import make_client
from hotline_shared.settings import MongoSettings

from tests.conftest import token_for
from tests.integration.followup.support import centers_file
from tests.integration.intake.test_telephony import post_twilio
from tests.support import ServiceProcess, unique, wait_until
from tests.unit.intake import sequences as seq

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "alert-secret-for-break-glass"


class Supervisor:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        supervisor = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                supervisor.events.append(
                    json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def break_glass(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == "hotline.security.break-glass.v1"]


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    s = Supervisor()
    yield s
    s.server.shutdown()


@pytest.fixture
async def system(
    tmp_path: Path, supervisor: Supervisor
) -> AsyncIterator[tuple[dict[str, ServiceProcess], str]]:
    prefix = unique("t")
    env = {"HOTLINE_KAFKA_TOPIC_PREFIX": f"{prefix}.", "HOTLINE_MONGODB_DATABASE_PREFIX": f"{prefix}_",
           "HOTLINE_CENTERS_FILE": str(centers_file(tmp_path, alert_webhook_url=supervisor.url,
                                                    alert_webhook_secret=SECRET)),
           "HOTLINE_FOLLOWUP_ALERT_INTERVAL_SECONDS": "0.2"}  # fmt: skip
    services = {
        name: ServiceProcess(name, env, tmp_path) for name in ("intake", "sessions", "followup")
    }
    for service in services.values():
        service.start()
    try:
        for service in services.values():
            await service.wait_ready()
        yield services, f"{prefix}_"
    finally:
        for service in services.values():
            service.stop()


def bearer(role: str, sub: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(role, ['center-01'], sub)}", **headers}


async def test_another_counselor_is_refused_unless_they_break_the_glass(
    system: tuple[dict[str, ServiceProcess], str], supervisor: Supervisor
) -> None:
    services, prefix = system
    sid = unique("CA")
    contact = contact_id_for("center-01", "twilio", sid)
    session = session_id_for(contact, 1)
    mine, theirs = bearer("counselor", "amy"), bearer("counselor", "ben")
    glass = bearer(
        "counselor", "ben", **{"X-Break-Glass-Reason": "Amy is off shift, caller rang back"}
    )
    async with httpx.AsyncClient(timeout=10) as client:
        intake, sessions = services["intake"].url, services["sessions"].url
        async with httpx.AsyncClient(base_url=intake, timeout=10) as webhook:
            for form in seq.twilio_answered(sid):  # Twilio voice: nobody answered it by name
                assert (await post_twilio(webhook, form)).status_code == 200

        async def opened() -> bool:
            return (
                await client.get(
                    f"{sessions}/v1/sessions/{session}", headers=bearer("supervisor", "sue")
                )
            ).status_code == 200

        await wait_until(opened, timeout=60, what="the session")
        took = await client.get(f"{intake}/v1/contacts/{contact}", headers=mine)  # Amy takes it
        took_session = await client.put(f"{sessions}/v1/sessions/{session}/notes", json={"free_text": "x"},
                                         headers={**mine, "If-Match": "0"})  # fmt: skip
        refused = await client.get(f"{intake}/v1/contacts/{contact}", headers=theirs)
        refused_session = await client.get(f"{sessions}/v1/sessions/{session}", headers=theirs)
        listed = await client.get(
            f"{sessions}/v1/sessions", params={"contact_id": contact}, headers=theirs
        )
        bad_reason = await client.get(f"{intake}/v1/contacts/{contact}",
                                      headers={**theirs, "X-Break-Glass-Reason": "x"})  # fmt: skip
        opened_glass = await client.get(f"{intake}/v1/contacts/{contact}", headers=glass)
        opened_session = await client.get(f"{sessions}/v1/sessions/{session}", headers=glass)
        again = await client.get(f"{intake}/v1/contacts/{contact}", headers=glass)
        by_supervisor = await client.get(
            f"{sessions}/v1/sessions/{session}", headers=bearer("supervisor", "sue")
        )
        still_mine = await client.get(f"{sessions}/v1/sessions/{session}", headers=mine)
    assert took.status_code == 200 and took_session.status_code == 200
    assert refused.status_code == refused_session.status_code == 403
    assert refused.json()["title"] == "Not assigned to you"
    assert refused.json()["errors"][0]["field"] == "contact_id"
    assert listed.status_code == 200 and listed.json()["items"] == []  # not shown to Ben
    assert bad_reason.status_code == 422
    assert opened_glass.status_code == opened_session.status_code == again.status_code == 200
    assert by_supervisor.status_code == 200 and still_mine.status_code == 200

    alerts = await wait_until(lambda: len(supervisor.break_glass()) >= 2 and supervisor.break_glass(),
                              timeout=60, what="break-glass alerts")  # fmt: skip
    assert sorted(a["data"]["resource"] for a in alerts) == ["contact", "session"]  # once each
    assert all(a["data"]["user"] == "ben" and "shift" not in json.dumps(a) for a in alerts)
    client = make_client(MongoSettings(database_prefix=prefix))
    try:
        audit = [
            e
            async for e in client[f"{prefix}hotline_intake"]["audit"].find({"contact_id": contact})
        ]
        session_audit = [
            e
            async for e in client[f"{prefix}hotline_sessions"]["audit"].find(
                {"session_id": session}
            )
        ]
    finally:
        await client.close()
    glass_entries = [
        (e["actor"], e["reason"]) for e in audit if e["action"] == "contact.break-glass"
    ]
    assert glass_entries == [("ben", "Amy is off shift, caller rang back")] * 2  # every opening
    assert ("amy", "contact.take") in {(e["actor"], e["action"]) for e in audit}
    assert [e["actor"] for e in session_audit if e["action"] == "session.take"] == ["amy"]
    assert len(supervisor.break_glass()) == 2  # the second opening alerted nobody again
