"""PHI at rest: C-SSRS answers and override reasons are ciphertext in the database, and
reading a contact is audited like releasing its number."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from hotline_shared.ids import contact_id_for
from hotline_shared.mongo import make_client
from hotline_shared.settings import MongoSettings

from tests.conftest import token_for
from tests.integration.intake.test_telephony import post_twilio
from tests.support import ServiceProcess, unique
from tests.unit.intake import sequences as seq

pytestmark = pytest.mark.integration

COUNSELOR = {"Authorization": f"Bearer {token_for('counselor', ['center-01'], 'counselor-5')}"}
HIGH = {"q1": True, "q2": True, "q3": True, "q4": True, "q5": False, "q6": False}


async def test_screening_answers_and_override_reasons_are_encrypted_at_rest(
    intake_service: ServiceProcess,
) -> None:
    sid = unique("CA")
    async with httpx.AsyncClient(
        base_url=intake_service.url, headers=COUNSELOR, timeout=10
    ) as client:
        for form in seq.twilio_answered(sid):
            assert (await post_twilio(client, form)).status_code == 200
        contact_id = contact_id_for("center-01", "twilio", sid)
        url = f"/v1/contacts/{contact_id}/screenings"
        finished = await client.post(url, json={"answers": HIGH, "override": {
            "level": "high", "reason": "talked about the bridge on Elm street"}})  # fmt: skip
        partial = await client.post(
            url, json={"answers": {"q1": True, "q2": True}, "complete": False}
        )
        read = await client.get(f"/v1/contacts/{contact_id}")
    assert finished.status_code == 201 and partial.status_code == 201 and read.status_code == 200
    assert partial.json()["next_question"] == "q3"  # still resumable from what was saved
    prefix = intake_service.env["HOTLINE_MONGODB_DATABASE_PREFIX"]
    client = make_client(MongoSettings(database_prefix=prefix))
    try:
        db = client[f"{prefix}hotline_intake"]
        stored = [d async for d in db["screenings"].find({"contact_id": contact_id})]
        audit = [a async for a in db["audit"].find({"contact_id": contact_id})]
    finally:
        await client.close()
    assert len(stored) == 2
    for doc in stored:
        assert isinstance(doc["answers"], str)  # ciphertext
        raw = json.dumps(doc, default=str)
        assert not re.search(r'"q6?\d?a?": (true|false)', raw)  # no answer stored in the clear
        assert "bridge" not in raw
    assert [(a["action"], a["actor"]) for a in audit] == [
        ("contact.take", "counselor-5"),
        ("contact.read", "counselor-5"),
    ]
