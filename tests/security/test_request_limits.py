"""Request size before work, the bearer token before the body is parsed, and no crash that
leaks its input: against a running service, and the guard itself on a route that fails."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from hotline_shared.auth import Role, bearer
from hotline_shared.guard import JSON_LIMIT, WEBHOOK_LIMIT, RequestGuard
from hotline_shared.logging import configure_logging
from hotline_shared.problems import install_problem_handlers
from hotline_shared.settings import SecuritySettings

from tests.conftest import token_for
from tests.support import ServiceProcess

COUNSELOR = {"Authorization": f"Bearer {token_for('counselor', ['center-01'])}"}


def is_problem(response: httpx.Response, status: int) -> bool:
    return response.status_code == status and response.headers["content-type"].startswith(
        "application/problem+json"
    )


@pytest.mark.integration
async def test_an_oversized_webhook_is_413_by_its_declared_length(
    intake_service: ServiceProcess,
) -> None:
    body = b"CallSid=CA1&" + b"x" * WEBHOOK_LIMIT
    async with httpx.AsyncClient(base_url=intake_service.url) as client:
        response = await client.post("/v1/telephony/twilio/center-01", content=body,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert is_problem(response, 413)
    assert response.json()["errors"][0]["field"] == "body"


@pytest.mark.integration
async def test_an_oversized_streamed_body_is_413_while_it_streams(
    intake_service: ServiceProcess,
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        nonlocal sent
        for _ in range(64):
            sent += 4096
            yield b"x" * 4096

    async with httpx.AsyncClient(base_url=intake_service.url) as client:
        response = await client.post("/v1/telephony/twilio/center-01", content=chunks(),
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert is_problem(response, 413)


@pytest.mark.integration
async def test_a_json_route_checks_the_token_before_it_parses_or_bounds_the_body(
    intake_service: ServiceProcess,
) -> None:
    url = "/v1/contacts/nope/screenings"
    junk = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=intake_service.url) as client:
        anonymous = await client.post(url, content=b"{not json", headers=junk)
        forged = await client.post(url, content=b"{not json",
                                   headers={**junk, "Authorization": "Bearer x.y.z"})  # fmt: skip
        authorised = await client.post(url, content=b"{not json", headers={**junk, **COUNSELOR})
        huge = await client.post(
            url, content=b"[" + b"1," * JSON_LIMIT + b"1]", headers={**junk, **COUNSELOR}
        )
    assert is_problem(anonymous, 401) and anonymous.json()["errors"][0]["field"] == "Authorization"
    assert is_problem(forged, 401)
    assert is_problem(authorised, 422)  # parsed only now: a clear 4xx naming the body
    assert is_problem(huge, 413)


# ---- the guard itself --------------------------------------------------------------------


def guarded_app() -> FastAPI:
    settings = SecuritySettings()
    from hotline_shared.auth import TokenVerifier

    verifier = TokenVerifier(settings)
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RequestGuard, verifier=verifier)

    @app.post("/v1/things")
    async def things(
        body: dict[str, str], who: object = bearer_dependency(verifier)
    ) -> dict[str, str]:
        raise RuntimeError(f"caller +12345550100 said {body.get('note')}")

    return app


def bearer_dependency(verifier: object) -> object:
    from fastapi import Depends

    return Depends(bearer(verifier, Role.COUNSELOR))  # type: ignore[arg-type]


async def test_an_unexpected_error_is_a_500_problem_with_an_id_and_the_log_has_no_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("test")
    transport = httpx.ASGITransport(app=guarded_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        response = await client.post(
            "/v1/things", json={"note": "I have pills here"}, headers=COUNSELOR
        )
    assert is_problem(response, 500)
    error_id = response.json()["error_id"]
    assert error_id in response.json()["detail"]
    logged = capsys.readouterr().out
    assert error_id in logged and "RuntimeError" in logged
    assert "pills" not in logged and "2345550100" not in logged
    assert "pills" not in response.text and json.loads(response.text)["status"] == 500


# ---- bounded documents -------------------------------------------------------------------


def test_every_safety_plan_entry_is_bounded_and_a_full_document_stays_far_below_16_mb() -> None:
    from hotline_sessions.domain.documentation import Notes, SafetyPlan
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        SafetyPlan.model_validate({"warning_signs": ["x" * 501]})
    assert caught.value.errors()[0]["loc"] == ("warning_signs", 0)
    with pytest.raises(ValidationError):
        SafetyPlan.model_validate({"warning_signs": ["x"] * 21})
    sections = [name for name, f in SafetyPlan.model_fields.items() if f.annotation is not str]
    full_plan = SafetyPlan.model_validate(
        {**{name: ["x" * 500] * 20 for name in sections}, "reason_for_living": "x" * 2000}
    )

    def filled(model: type) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            limit = next((m.max_length for m in field.metadata if hasattr(m, "max_length")), None)
            if field.annotation is str and limit:
                out[name] = "x" * limit
        return out

    notes = Notes.model_validate(filled(Notes))
    size = len(full_plan.model_dump_json()) + len(notes.model_dump_json())
    assert size < 1_000_000  # a session document is bounded well below MongoDB's 16 MB
