"""RFC 9457 problem+json: the one error format of every hotline HTTP API."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hotline_shared.mongo import Conflict

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    """The input a problem is about: a body field's dotted path, a query parameter or a
    header; never the value that was sent (it may be PHI)."""

    field: str = Field(description="e.g. answers.q3, center_id, If-Match; empty: the body")
    message: str


class ProblemDetails(BaseModel):
    """An RFC 9457 problem (media type application/problem+json): every error every hotline
    service answers with. Some problems carry members of their own (e.g. `current_version` on a
    stale edit, `error_id` on an internal error)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="always about:blank: `title` says it")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    instance: str | None = Field(default=None, description="the request path")
    errors: list[FieldError] | None = Field(
        default=None, description="the fields that were wrong (validation and input problems)"
    )


# What a route declares in OpenAPI; the schemas are put into each app's components by
# `install_problem_handlers` (the one place that knows how problems are written).
_PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
_PROBLEM_SCHEMAS = {
    "ProblemDetails": ProblemDetails.model_json_schema(
        ref_template="#/components/schemas/{model}", mode="serialization"
    ),
    "FieldError": FieldError.model_json_schema(mode="serialization"),
}
_PROBLEM_SCHEMAS["ProblemDetails"].pop("$defs", None)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI `responses=` mapping: each status answered with problem+json."""
    return {
        status: {
            "description": HTTPStatus(status).phrase + " (problem+json)",
            "content": {PROBLEM_JSON: {"schema": dict(_PROBLEM_REF)}},
        }
        for status in statuses
    }


# Every bearer-protected route: no or a bad token (401), a role or center not allowed (403,
# or 404 for another center's resource), invalid input or break-glass reason (422), an
# unexpected error (500, from the request guard), MongoDB, Kafka or the identity provider
# unreachable (503).
API_PROBLEMS = problem_responses(401, 403, 404, 422, 500, 503)
# Routes with a request body: the request guard refuses a body over its limit.
BODY_PROBLEMS = problem_responses(413)


class Problem(Exception):
    """Raise to answer with problem+json; `field` names the offending input."""

    def __init__(
        self,
        status: int,
        title: str,
        *,
        detail: str | None = None,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field
        self.extra = extra or {}
        self.headers = headers


def problem_response(
    status: int,
    title: str,
    *,
    detail: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Name each field; never echo the value (it may be PHI)."""
    return [
        {
            "field": ".".join(str(p) for p in err["loc"] if p not in ("body", "query", "path")),
            "message": err["msg"],
        }
        for err in exc.errors()
    ]


def document_problems(app: FastAPI) -> None:
    """Add the schemas `problem_responses` refers to to the app's OpenAPI components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(_PROBLEM_SCHEMAS)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_problem_handlers(app: FastAPI) -> None:
    document_problems(app)

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        errors = [{"field": exc.field, "message": exc.detail or exc.title}] if exc.field else None
        return problem_response(
            exc.status,
            exc.title,
            detail=exc.detail,
            instance=request.url.path,
            errors=errors,
            extra=exc.extra,
            headers=exc.headers,
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = field_errors(exc)
        fields = ", ".join(e["field"] or "body" for e in errors)
        return problem_response(
            422,
            "Invalid input",
            detail=f"invalid field(s): {fields}",
            instance=request.url.path,
            errors=errors,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem_response(
            exc.status_code,
            str(exc.detail),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    async def on_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Infrastructure trouble is the server's, and retryable: 503, never a bare crash.
        log.error("request.dependency_failed", path=request.url.path, error=type(exc).__name__)
        return problem_response(
            503, "Service temporarily unavailable", detail=type(exc).__name__,
            instance=request.url.path, headers={"Retry-After": "2"},
        )  # fmt: skip

    async def on_conflict(request: Request, exc: Exception) -> JSONResponse:
        # Concurrent writers kept winning the conditional write: retryable, nothing changed.
        return problem_response(
            503, "Busy: the record changed concurrently; retry", detail=str(exc),
            instance=request.url.path, headers={"Retry-After": "1"},
        )  # fmt: skip

    app.add_exception_handler(Conflict, on_conflict)
    app.add_exception_handler(PyMongoError, on_unavailable)
    app.add_exception_handler(KafkaError, on_unavailable)
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
