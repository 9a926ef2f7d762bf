"""Tenancy: contact ids include the center, and another center's resource answers exactly
as an unknown one does."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from hotline_shared import twilio as signatures
from hotline_shared.ids import contact_id_for

from tests.conftest import token_for
from tests.support import ServiceProcess, unique
from tests.unit.intake import sequences as seq

pytestmark = pytest.mark.integration

TOKENS = {"center-01": "dev-twilio-token-center-01", "center-02": "dev-twilio-token-center-02"}


async def answered(client: httpx.AsyncClient, center: str, sid: str) -> None:
    url = f"{str(client.base_url).rstrip('/')}/v1/telephony/twilio/{center}"
    for form in seq.twilio_answered(sid):
        response = await client.post(url, content=urlencode(form), headers={
            "X-Twilio-Signature": signatures.signature(TOKENS[center], url, form),
            "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert response.status_code == 200


def headers(center: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for('counselor', [center])}"}


async def test_the_same_call_id_in_two_centers_is_two_contacts(
    intake_service: ServiceProcess,
) -> None:
    sid = unique("CA")  # two PBXs (or a center probing another) reuse one call id
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=10) as client:
        await answered(client, "center-01", sid)
        await answered(client, "center-02", sid)
        ids = {c: contact_id_for(c, "twilio", sid) for c in TOKENS}
        assert ids["center-01"] != ids["center-02"]
        for center, contact_id in ids.items():
            own = await client.get(f"/v1/contacts/{contact_id}", headers=headers(center))
            assert own.status_code == 200 and own.json()["center_id"] == center


async def test_another_centers_contact_answers_exactly_like_an_unknown_one(
    intake_service: ServiceProcess,
) -> None:
    sid = unique("CA")
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=10) as client:
        await answered(client, "center-01", sid)
        theirs = contact_id_for("center-01", "twilio", sid)
        unknown = contact_id_for("center-01", "twilio", unique("CA-never-"))
        for path in ("", "/caller?reason=callback"):
            foreign = await client.get(f"/v1/contacts/{theirs}{path}", headers=headers("center-02"))
            missing = await client.get(
                f"/v1/contacts/{unknown}{path}", headers=headers("center-02")
            )
            assert foreign.status_code == missing.status_code == 404
            strip = {"instance"}
            assert {k: v for k, v in foreign.json().items() if k not in strip} == {
                k: v for k, v in missing.json().items() if k not in strip
            }
        screened = await client.post(f"/v1/contacts/{theirs}/screenings", headers=headers("center-02"),
                                     json={"answers": {"q1": False, "q2": False, "q6": False}})  # fmt: skip
        assert screened.status_code == 404
