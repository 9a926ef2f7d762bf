"""Every route of every service × role × center, generated from each service's OpenAPI
document: anonymous → 401, a role the route does not allow → 403, another center → 404 (as
an unknown resource), the right role and center → 2xx. A route missing from the table below
fails the test, so a new route must say who may use it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hotline_sessions.service_layer import session_id_for
from hotline_shared.ids import contact_id_for

from tests.conftest import token_for
from tests.integration.intake.test_telephony import post_twilio
from tests.support import ServiceProcess, unique, wait_until
from tests.unit.intake import sequences as seq

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLINICIAN = ("counselor", "supervisor")
WORKER = ("counselor", "supervisor", "admin")
SUPERVISOR = ("supervisor", "admin")
ROLES = ("counselor", "supervisor", "admin", "service")
OPS = {"/healthz", "/readyz", "/metrics", "/asyncapi"}  # public by design: no caller data
SIGNED = ("/v1/telephony/", "/v1/messaging/")  # a provider's signature, not a bearer token


@dataclass(frozen=True)
class Route:
    roles: tuple[str, ...]
    body: dict[str, Any] | None = None
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    repeat_ok: tuple[int, ...] = ()  # what a second allowed call may answer (state moved on)


LATER = (datetime.now(UTC) + timedelta(days=1)).isoformat()
TABLE: dict[str, dict[str, Route]] = {
    "intake": {
        "GET /v1/contacts": Route(CLINICIAN, query={"center_id": "center-01"}),
        "GET /v1/contacts/{contact_id}": Route(CLINICIAN),
        "GET /v1/contacts/{contact_id}/history": Route(CLINICIAN),
        "POST /v1/contacts/{contact_id}/screenings": Route(
            CLINICIAN, {"answers": {"q1": True, "q2": False, "q6": False}}),
        "PUT /v1/contacts/{contact_id}/screenings/{screening_id}": Route(
            CLINICIAN, {"answers": {"q1": True, "q2": True}, "complete": False}),
        "POST /v1/contacts/{contact_id}/escalations": Route(
            CLINICIAN, {"reason": "attempt-in-progress", "actions": ["ems-dispatched"]}),
        "POST /v1/contacts/{contact_id}/escalations/{escalation_id}/ems-confirmation": Route(
            CLINICIAN, {"reached": True}, repeat_ok=(409,)),
        "GET /v1/contacts/{contact_id}/caller": Route(CLINICIAN, query={"reason": "callback"}),
        "PUT /v1/contacts/{contact_id}/callback-number": Route(CLINICIAN, {"number": "+12345550199"}),
        "PUT /v1/contacts/{contact_id}/email": Route(CLINICIAN, {"email": "person@example.net"}),
        "PUT /v1/contacts/{contact_id}/legal-hold": Route(
            SUPERVISOR, {"held": False, "reason": "matrix check"}),
        "GET /v1/kpis/operations": Route(SUPERVISOR, query={
            "center_id": "center-01", "since": "2026-01-01T00:00:00Z", "until": LATER}),
        "GET /v1/kpis/operations/intervals": Route(SUPERVISOR, query={
            "center_id": "center-01", "from": "2026-11-01T00:00:00Z", "to": LATER}),
        "GET /v1/kpis/live": Route(SUPERVISOR, query={"center_id": "center-01"}),
    },
    "sessions": {
        "GET /v1/sessions": Route(CLINICIAN, query={"contact_id": "{contact_id}"}),
        "GET /v1/sessions/{session_id}": Route(CLINICIAN),
        "GET /v1/sessions/{session_id}/previous-safety-plan": Route(CLINICIAN),
        "PUT /v1/sessions/{session_id}/notes": Route(
            CLINICIAN, {"free_text": "x"}, headers={"If-Match": "0"}, repeat_ok=(409,)),
        "GET /v1/sessions/{session_id}/notes/versions": Route(CLINICIAN),
        "PUT /v1/sessions/{session_id}/safety-plan": Route(
            CLINICIAN, {"warning_signs": ["x"]}, headers={"If-Match": "0"}, repeat_ok=(409,)),
        "POST /v1/sessions/{session_id}/close": Route(CLINICIAN, {}, repeat_ok=(409,)),
        "POST /v1/sessions/{session_id}/addenda": Route(CLINICIAN, {"text": "called back"}),
        "PUT /v1/sessions/{session_id}/review": Route(SUPERVISOR, {"scores": {
            "safety": 4, "exploring": 4, "de_escalation": 3, "rapport": 5, "problem_solving": 4,
            "follow_up": 4}, "comments": "clear safety plan"}),
        "GET /v1/qa/sample": Route(SUPERVISOR, query={"center_id": "center-01", "week": "2026-W48"}),
    },
    "followup": {
        "GET /v1/followups": Route(WORKER, query={"center_id": "center-01"}),
        "GET /v1/followups/{followup_id}": Route(WORKER),
        "POST /v1/followups/{followup_id}/claim": Route(WORKER, repeat_ok=(409,)),
        # to the counselor, who is first to release it next
        "POST /v1/followups/{followup_id}/assign": Route(SUPERVISOR, {"worker": "counselor-center-01"}),
        "POST /v1/followups/{followup_id}/release": Route(WORKER),
        "POST /v1/followups/{followup_id}/schedule": Route(WORKER, {"at": LATER}, repeat_ok=(409,)),
        "GET /v1/caring-series": Route(WORKER, query={"center_id": "center-01"}),
        "GET /v1/caring-series/{series_id}": Route(WORKER),
        "POST /v1/caring-series/{series_id}/stop": Route(WORKER),
        "GET /v1/sla/summary": Route(SUPERVISOR, query={"center_id": "center-01"}),
        "GET /v1/alerts": Route(SUPERVISOR, query={"center_id": "center-01"}),
        "POST /v1/alerts/{alert_id}/acknowledge": Route(SUPERVISOR),
        "GET /v1/kpis/followups": Route(SUPERVISOR, query={
            "center_id": "center-01", "from": "2026-11-01T00:00:00Z", "to": LATER}),
        "GET /v1/sla/breaches": Route(SUPERVISOR, query={"center_id": "center-01"}),
        # last: three attempts end the callback
        "POST /v1/followups/{followup_id}/attempts": Route(WORKER, {"outcome": "no-answer"},
                                                           repeat_ok=(409,)),
    },
}  # fmt: skip


def bearer(role: str, center: str = "center-01") -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(role, [center], f'{role}-{center}')}"}


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """The three services on one prefix, and one resource of each kind in center-01."""
    tmp = Path(tmp_path_factory.mktemp("matrix"))
    prefix = unique("t")
    env = {"HOTLINE_KAFKA_TOPIC_PREFIX": f"{prefix}.", "HOTLINE_MONGODB_DATABASE_PREFIX": f"{prefix}_",
           "HOTLINE_FOLLOWUP_POLICY_PROFILE": "demo"}  # fmt: skip
    services = {name: ServiceProcess(name, env, tmp) for name in ("intake", "sessions", "followup")}
    for service in services.values():
        service.start()
    try:
        for service in services.values():
            await service.wait_ready()
        ids = await _resources({n: s.url for n, s in services.items()})
        yield {"urls": {n: s.url for n, s in services.items()}, "ids": ids}
    finally:
        for service in services.values():
            service.stop()


async def _resources(urls: dict[str, str]) -> dict[str, str]:
    sup = bearer("supervisor")
    async with httpx.AsyncClient(timeout=30) as client:
        intake = httpx.AsyncClient(base_url=urls["intake"], timeout=30)
        answered, closed, abandoned = unique("CA"), unique("CA"), unique("CA")
        for sid in (answered, closed):
            for form in seq.twilio_answered(sid):
                assert (await post_twilio(intake, form)).status_code == 200
        for form in seq.twilio_abandoned(abandoned):
            assert (await post_twilio(intake, form)).status_code == 200
        contact = contact_id_for("center-01", "twilio", answered)
        screening = await intake.post(f"/v1/contacts/{contact}/screenings", headers=sup,
                                      json={"answers": {"q1": True}, "complete": False})  # fmt: skip
        escalation = await intake.post(f"/v1/contacts/{contact}/escalations", headers=sup,
                                       json={"reason": "attempt-in-progress", "actions": ["ems-dispatched"]})  # fmt: skip
        await intake.aclose()
        session = session_id_for(contact, 1)
        other_session = session_id_for(contact_id_for("center-01", "twilio", closed), 1)

        async def opened(session_id: str) -> bool:
            return (
                await client.get(f"{urls['sessions']}/v1/sessions/{session_id}", headers=sup)
            ).status_code == 200

        await wait_until(lambda: opened(session), timeout=60, what="the session")
        await wait_until(lambda: opened(other_session), timeout=60, what="the second session")
        close = await client.post(f"{urls['sessions']}/v1/sessions/{other_session}/close", headers=sup,
                                  json={"caring_contacts_consent": True})  # fmt: skip
        assert close.status_code == 200, close.text

        async def first(path: str) -> str | None:
            page = await client.get(
                f"{urls['followup']}{path}", params={"center_id": "center-01"}, headers=sup
            )
            items = page.json()["items"]
            return items[0]["id"] if items else None

        followup = await wait_until(lambda: first("/v1/followups"), timeout=60, what="a task")
        series = await wait_until(lambda: first("/v1/caring-series"), timeout=60, what="a series")
        alert = await wait_until(lambda: first("/v1/alerts"), timeout=60, what="an alert")
    return {"alert_id": alert, "contact_id": contact, "screening_id": screening.json()["id"],
            "escalation_id": escalation.json()["id"], "session_id": session,
            "followup_id": followup, "series_id": series}  # fmt: skip


def _fill(template: str, ids: dict[str, str]) -> str:
    return template.format(**ids)


async def _routes(url: str) -> set[str]:
    async with httpx.AsyncClient(timeout=30) as client:
        spec = (await client.get(f"{url}/openapi.json")).json()
    return {f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops
            if path not in OPS and not path.startswith(SIGNED)}  # fmt: skip


@pytest.mark.parametrize("service", sorted(TABLE))
async def test_every_route_has_an_access_rule(system: dict[str, Any], service: str) -> None:
    assert await _routes(system["urls"][service]) == set(TABLE[service])


@pytest.mark.parametrize("service", sorted(TABLE))
async def test_every_route_answers_anonymous_wrong_role_other_center_and_right_role(
    system: dict[str, Any], service: str
) -> None:
    url, ids = system["urls"][service], system["ids"]
    unknown_ids = {k: f"unknown-{v[:8]}" for k, v in ids.items()}
    failures: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def call(key: str, route: Route, headers: dict[str, str], values: dict[str, str],
                       center: str = "center-01") -> httpx.Response:  # fmt: skip
            method, template = key.split(" ", 1)
            query = {
                k: _fill(v, values).replace("center-01", center) for k, v in route.query.items()
            }
            # (`center`: the center a query names; another center's user asks for center-01)
            return await client.request(method, _fill(template, values), params=query, json=route.body,
                                        headers={**route.headers, **headers})  # fmt: skip

        for key, route in TABLE[service].items():
            anonymous = await call(key, route, {}, ids)
            if anonymous.status_code != 401:
                failures.append(f"{key} anonymous: {anonymous.status_code}")
            for role in ROLES:
                if role not in route.roles:
                    wrong = await call(key, route, bearer(role), ids)
                    if wrong.status_code != 403:
                        failures.append(f"{key} as {role}: {wrong.status_code}")
            allowed = route.roles[0]
            foreign = await call(key, route, bearer(allowed, "center-02"), ids)
            unknown = await call(
                key, route, bearer(allowed, "center-02"), unknown_ids, center="no-such-center"
            )
            if foreign.status_code != unknown.status_code or (
                foreign.status_code != 404 and foreign.json() != unknown.json()
            ):
                failures.append(
                    f"{key} other center: {foreign.status_code} vs unknown {unknown.status_code}"
                )
            for n, role in enumerate(route.roles):
                right = await call(key, route, bearer(role), ids)
                ok = right.is_success or (n > 0 and right.status_code in route.repeat_ok)
                if not ok:
                    failures.append(f"{key} as {role}: {right.status_code} {right.text[:120]}")
    assert failures == []
