"""Fuzzing every route of every service from its OpenAPI document (hypothesis, a fixed budget
per service): whatever is sent — any path ids, query values, headers and JSON bodies, shaped
by the route's schema or not — the answer is never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import token_for
from tests.support import ServiceProcess, unique

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUDGET = 150  # requests per service
OPS = {"/healthz", "/readyz", "/metrics"}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(allow_nan=False),
    st.text(max_size=40), st.sampled_from(["", "high", "+12345550100", "2026-11-28T10:00:00Z",
                                           "no-answer", "sms", "\x00", "../../etc", "{}" * 30]),
)  # fmt: skip
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=20)  # fmt: skip


def schema_shaped(spec: dict[str, Any], schema: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    """Bodies that look like the route's schema (its field names), with any values."""
    if not schema:
        return json_values
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    fields = list((schema.get("properties") or {}).keys())
    if not fields:
        return json_values
    return st.dictionaries(st.sampled_from(fields), json_values, max_size=len(fields))


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServiceProcess]]:
    tmp = Path(tmp_path_factory.mktemp("fuzz"))
    prefix = unique("t")
    env = {
        "HOTLINE_KAFKA_TOPIC_PREFIX": f"{prefix}.",
        "HOTLINE_MONGODB_DATABASE_PREFIX": f"{prefix}_",
    }
    running = {name: ServiceProcess(name, env, tmp) for name in ("intake", "sessions", "followup")}
    for process in running.values():
        process.start()
    try:
        for process in running.values():
            process.wait_ready_blocking()
        yield running
    finally:
        for process in running.values():
            process.stop()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in spec["paths"].items() for method, op in ops.items()
            if path not in OPS]  # fmt: skip


@pytest.mark.parametrize("service", ["intake", "sessions", "followup"])
def test_no_generated_request_gets_a_5xx(services: dict[str, ServiceProcess], service: str) -> None:
    url = services[service].url
    with httpx.Client(base_url=url, timeout=30) as client:
        spec = client.get("/openapi.json").json()
    ops = operations(spec)
    tokens = [token_for("supervisor", ["center-01"]), token_for("counselor", ["center-01"]),
              "not-a-token", ""]  # fmt: skip
    failures: list[str] = []

    @settings(max_examples=BUDGET, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.data())
    def one_request(data: st.DataObject) -> None:
        method, path, op = data.draw(st.sampled_from(ops))
        params = op.get("parameters", [])
        filled = path
        query: dict[str, str] = {}
        headers: dict[str, str] = {}
        for p in params:
            value = data.draw(st.one_of(st.text(min_size=1, max_size=30), st.sampled_from(
                ["center-01", "center-02", "0", "-1", "99999999999", "true"])))  # fmt: skip
            if p["in"] == "path":
                filled = filled.replace("{" + p["name"] + "}", quote(value, safe="") or "x")
            elif p["in"] == "query" and data.draw(st.booleans()):
                query[p["name"]] = value
            elif (
                p["in"] == "header"
                and data.draw(st.booleans())
                and value.isascii()
                and value.isprintable()
            ):
                headers[p["name"]] = value
        token = data.draw(st.sampled_from(tokens))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body_schema = (
            (op.get("requestBody") or {})
            .get("content", {})
            .get("application/json", {})
            .get("schema")
        )
        kwargs: dict[str, Any] = {}
        if method in ("POST", "PUT", "PATCH"):
            body = data.draw(st.one_of(schema_shaped(spec, body_schema), json_values))
            kind = data.draw(st.sampled_from(["json", "form", "raw"]))
            if kind == "json":
                kwargs["content"] = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            elif kind == "form":
                kwargs["content"] = data.draw(st.binary(max_size=200))
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                kwargs["content"] = data.draw(st.binary(max_size=200))
        with httpx.Client(base_url=url, timeout=30) as client:
            response = client.request(method, filled, params=query, headers=headers, **kwargs)
        if response.status_code >= 500:
            failures.append(
                f"{method} {filled} {query} -> {response.status_code} {response.text[:200]}"
            )

    one_request()
    assert failures == []
