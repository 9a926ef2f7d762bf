"""RFC 9457 problem+json: the one error format of every hotline HTTP API."""

from __future__ import annotations

from typing import Any

import structlog
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hotline_shared.mongo import Conflict

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


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


def install_problem_handlers(app: FastAPI) -> None:
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
