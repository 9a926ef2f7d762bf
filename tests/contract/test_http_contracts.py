"""The HTTP contract of every service, read from its OpenAPI document (the apps are built, not
started: no infrastructure). Every operation declares

- what it answers on success: a schema (a named model), or the media type of an answer that is
  not JSON (Server-Sent Events, CSV, a redirect, Prometheus text, TwiML);
- its errors, each as RFC 9457 problem+json (the one error format: hotline_shared.problems);
- how its caller authenticates: the bearer scheme, the credential it really checks instead (a
  provider's signature or key, the console's session cookie), or explicitly nothing. The
  operations without credentials are pinned below, so a new unauthenticated route fails here.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from hotline_shared.guard import SIGNED_PREFIXES
from hotline_shared.problems import (
    PROBLEM_JSON,
    Problem,
    ProblemDetails,
    install_problem_handlers,
    problem_response,
)
from pydantic import BaseModel

SERVICES = ("intake", "sessions", "followup", "console")
API_SERVICES = ("intake", "sessions", "followup")
OPS = {"GET /healthz", "GET /readyz", "GET /metrics", "GET /asyncapi"}
PROBLEM_REF = "#/components/schemas/ProblemDetails"

# Operations that take no credentials at all, by design.
PUBLIC: dict[str, set[str]] = {
    "intake": OPS,
    "sessions": OPS,
    "followup": OPS,
    # signing in: nobody is signed in yet
    "console": OPS | {"GET /bff/sign-in-options", "POST /bff/dev-login", "GET /bff/login",
                      "GET /bff/callback"},
}  # fmt: skip
# Webhooks: a provider's signature or key, never a bearer token.
SIGNED: dict[str, dict[str, str]] = {
    "intake": {
        "POST /v1/telephony/twilio/{center_id}": "twilioSignature",
        "POST /v1/telephony/twilio-taskrouter/{center_id}": "twilioSignature",
        "POST /v1/telephony/amazon-connect/{center_id}": "amazonConnectApiKey",
        "POST /v1/telephony/events/{center_id}": "hotlineSignature",
    },
    "followup": {
        "POST /v1/messaging/twilio/{center_id}/inbound": "twilioSignature",
        "POST /v1/messaging/twilio/{center_id}/status": "twilioSignature",
    },
}
# Everything else: the bearer token (the API services), the session cookie (the console).
DEFAULT_SCHEME = {"intake": "bearer", "sessions": "bearer", "followup": "bearer",
                  "console": "consoleSession"}  # fmt: skip
# JSON answers that have no model of their own: the console's proxy answers whatever the
# service it forwards to answered (documented there); /asyncapi is a document (AsyncAPI 3).
FREE_FORM = {f"{m} /api/{{service}}/{{path}}" for m in ("GET", "POST", "PUT", "PATCH", "DELETE")}
FREE_FORM.add("GET /asyncapi")


@pytest.fixture(scope="module")
def specs() -> dict[str, dict[str, Any]]:
    built: dict[str, dict[str, Any]] = {}
    for service in SERVICES:
        app: FastAPI = importlib.import_module(f"hotline_{service}.app").build_app()
        built[service] = app.openapi()
    return built


def operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{method.upper()} {path}": op for path, ops in spec["paths"].items()
            for method, op in ops.items()}  # fmt: skip


def test_every_service_has_operations(specs: dict[str, dict[str, Any]]) -> None:
    for service in SERVICES:
        assert len(operations(specs[service])) > len(OPS), service


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_declares_what_it_answers_on_success(
    specs: dict[str, dict[str, Any]], service: str
) -> None:
    failures: list[str] = []
    for key, op in operations(specs[service]).items():
        successes = {s: r for s, r in op["responses"].items() if s[0] in "23"}
        if not successes:
            failures.append(f"{key}: no success response")
        for status, response in successes.items():
            content = response.get("content") or {}
            if status == "204" or status.startswith("3"):
                if content:
                    failures.append(f"{key} {status}: a body on a {status}")
                continue
            if not content:
                failures.append(f"{key} {status}: no content declared")
            for media, body in content.items():
                schema = body.get("schema")
                if schema is None:
                    failures.append(f"{key} {status} {media}: no schema")
                elif media == "application/json" and key not in FREE_FORM and "$ref" not in schema:
                    failures.append(f"{key} {status}: JSON without a response model: {schema}")
    assert failures == []


@pytest.mark.parametrize("service", SERVICES)
def test_every_error_is_declared_as_problem_json(
    specs: dict[str, dict[str, Any]], service: str
) -> None:
    spec = specs[service]
    failures: list[str] = []
    for key, op in operations(spec).items():
        errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
        for status, response in errors.items():
            content = response.get("content") or {}
            if set(content) != {PROBLEM_JSON}:
                failures.append(f"{key} {status}: {sorted(content)}")
            elif content[PROBLEM_JSON].get("schema") != {"$ref": PROBLEM_REF}:
                failures.append(f"{key} {status}: schema {content[PROBLEM_JSON].get('schema')}")
        if key in OPS:
            continue
        # what any such route can answer: an unexpected error (the guard's 500), invalid input,
        # a body over the limit, missing or bad credentials
        expected = {"500"}
        if op.get("parameters") or "requestBody" in op:
            expected.add("422")
        if "requestBody" in op:
            expected.add("413")
        schemes = {name for requirement in op.get("security", []) for name in requirement}
        if "bearer" in schemes:
            expected |= {"401", "403"}  # no or a bad token; a role not allowed
        if "consoleSession" in schemes:
            expected.add("401")  # not signed in
        if schemes & set(SIGNED.get(service, {}).values()):
            expected.add("403")  # a forged or missing signature
        missing = expected - set(errors)
        if missing:
            failures.append(f"{key}: undeclared {sorted(missing)}")
    # FastAPI's own 422 shape is never answered (the handlers answer problem+json)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert failures == []


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_declares_its_security(
    specs: dict[str, dict[str, Any]], service: str
) -> None:
    failures: list[str] = []
    for key, op in operations(specs[service]).items():
        if key in PUBLIC[service]:
            expected: list[dict[str, list[str]]] = []
        else:
            scheme = SIGNED.get(service, {}).get(key, DEFAULT_SCHEME[service])
            expected = [{scheme: []}]
        if "security" not in op:
            failures.append(f"{key}: no security declared (expected {expected})")
        elif op["security"] != expected:
            failures.append(f"{key}: {op['security']} (expected {expected})")
    assert failures == []


@pytest.mark.parametrize("service", API_SERVICES)
def test_the_bearer_scheme_is_declared(specs: dict[str, dict[str, Any]], service: str) -> None:
    schemes = specs[service]["components"]["securitySchemes"]
    assert schemes["bearer"]["type"] == "http"
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["bearer"]["bearerFormat"] == "JWT"


def test_the_console_declares_its_session_cookie(specs: dict[str, dict[str, Any]]) -> None:
    schemes = specs["console"]["components"]["securitySchemes"]
    assert schemes == {
        "consoleSession": schemes["consoleSession"]
    }  # no bearer: the browser never holds the token
    assert schemes["consoleSession"]["type"] == "apiKey"
    assert schemes["consoleSession"]["in"] == "cookie"
    assert schemes["consoleSession"]["name"] == "hotline_session"


@pytest.mark.parametrize("service", SERVICES)
def test_webhooks_are_not_bearer_and_are_the_routes_the_guard_treats_as_signed(
    specs: dict[str, dict[str, Any]], service: str
) -> None:
    spec = specs[service]
    signed = {k for k in operations(spec) if k.split(" ", 1)[1].startswith(SIGNED_PREFIXES)}
    assert signed == set(SIGNED.get(service, {}))
    for key in signed:
        op = operations(spec)[key]
        assert all("bearer" not in requirement for requirement in op["security"]), key
    for key, scheme in SIGNED.get(service, {}).items():
        declared = spec["components"]["securitySchemes"][scheme]
        assert declared["type"] == "apiKey" and declared["in"] == "header", key


@pytest.mark.parametrize("service", SERVICES)
def test_operation_ids_are_unique(specs: dict[str, dict[str, Any]], service: str) -> None:
    ids = [op["operationId"] for op in operations(specs[service]).values()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("service", SERVICES)
def test_the_problem_schema_is_a_component(specs: dict[str, dict[str, Any]], service: str) -> None:
    schemas = specs[service]["components"]["schemas"]
    problem = schemas["ProblemDetails"]
    assert set(problem["required"]) == {"title", "status"}
    assert {"type", "title", "status", "detail", "instance", "errors"} <= set(problem["properties"])
    assert "FieldError" in schemas
    refs = json.dumps(specs[service])
    for name in ("ProblemDetails", "FieldError"):
        assert f"#/components/schemas/{name}" in refs


class _Body(BaseModel):
    n: int


async def test_the_problem_model_is_what_the_handlers_answer() -> None:
    """Each way a problem is written (a raised Problem with a field, invalid input, an
    infrastructure fault's 503, the guard's 500 with an error id) fits ProblemDetails."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/problem")
    async def problem() -> None:
        raise Problem(409, "Stale version", detail="current version is 3", field="If-Match",
                      extra={"current_version": 3})  # fmt: skip

    @app.post("/invalid")
    async def invalid(body: _Body) -> None:
        raise AssertionError("not reached")

    @app.get("/raw")
    async def raw() -> None:
        raise RequestValidationError([{"loc": ("query", "week"), "msg": "bad", "type": "x"}])

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answers = [await client.get("/problem"), await client.post("/invalid", json={"n": "x"}),
                   await client.get("/raw")]  # fmt: skip
    internal = problem_response(500, "Internal error", detail="error id 1", extra={"error_id": "1"})
    bodies = [a.json() for a in answers] + [json.loads(bytes(internal.body))]
    for answer in answers:
        assert answer.headers["content-type"] == PROBLEM_JSON
    for body in bodies:
        parsed = ProblemDetails.model_validate(body)
        assert parsed.model_dump(exclude_unset=True, by_alias=True) == body
    assert bodies[0]["errors"] == [{"field": "If-Match", "message": "current version is 3"}]
    assert bodies[1]["errors"][0]["field"] == "n"
