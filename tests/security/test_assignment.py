"""Least privilege between counselors: a contact and its session are the answering
counselor's (or the first to take one nobody answered by name); another counselor is refused
unless they break the glass with a reason, which is audited and alerts a supervisor once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from hotline_sessions.service_layer import session_id_for
from hotline_shared.ids import contact_id_for
from hotline_shared.mongo import make_client
from hotline_shared.settings import MongoSettings

from tests.conftest import token_for
from tests.integration.followup.support import centers_file
from tests.integration.intake.test_telephony import post_twilio
from tests.support import Recorder, ServiceProcess, isolated_env, running, unique, wait_until
from tests.unit.intake import sequences as seq

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "alert-secret-for-break-glass"
BREAK_GLASS = "hotline.security.break-glass.v1"


@pytest.fixture
def supervisor() -> Iterator[Recorder]:
    s = Recorder()
    yield s
    s.close()


@pytest.fixture
async def system(
    tmp_path: Path, supervisor: Recorder
) -> AsyncIterator[tuple[dict[str, ServiceProcess], str]]:
    env = {**isolated_env(), "HOTLINE_FOLLOWUP_ALERT_INTERVAL_SECONDS": "0.2",
           "HOTLINE_CENTERS_FILE": str(centers_file(tmp_path, alert_webhook_url=f"{supervisor.url}/alerts",
                                                    alert_webhook_secret=SECRET))}  # fmt: skip
    async with running("intake", "sessions", "followup", env=env, log_dir=tmp_path) as services:
        yield services, env["HOTLINE_MONGODB_DATABASE_PREFIX"]


def bearer(role: str, sub: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(role, ['center-01'], sub)}", **headers}


async def test_another_counselor_is_refused_unless_they_break_the_glass(
    system: tuple[dict[str, ServiceProcess], str], supervisor: Recorder
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

    alerts = await wait_until(lambda: len(supervisor.events(BREAK_GLASS)) >= 2 and supervisor.events(BREAK_GLASS),
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
    assert len(supervisor.events(BREAK_GLASS)) == 2  # the second opening alerted nobody again
