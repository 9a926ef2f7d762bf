"""The request guard every service runs in front of its routes (pure ASGI, so it acts before
FastAPI reads or parses anything):

- a body over its route's limit is refused with 413 before it is read whole (by its
  Content-Length, or while it streams in);
- a JSON request to a bearer-protected route must carry a valid token before its body is
  parsed (the verified principal is handed to the route's `bearer` dependency);
- an unexpected exception becomes a 500 problem+json with an error id; the log gets the id
  and the exception's type, never its message or the input;
- every request has an id (the caller's X-Request-ID, or a new one): echoed in the
  response, bound to every log line, recorded in every audit entry.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotline_shared.audit import REQUEST_ID
from hotline_shared.auth import PRINCIPAL_STATE, TokenVerifier, bearer_token
from hotline_shared.problems import Problem, problem_response

log = structlog.get_logger(__name__)

KIB = 1024
WEBHOOK_LIMIT = 64 * KIB
JSON_LIMIT = 256 * KIB
# Routes authenticated by a provider's signature or key, not a bearer token.
SIGNED_PREFIXES = ("/v1/telephony/", "/v1/messaging/")


class BodyTooLarge(HTTPException):
    """Raised from inside the body stream: FastAPI passes HTTPExceptions through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Payload too large (limit {limit} bytes)")


class RequestGuard:
    def __init__(self, app: ASGIApp, *, verifier: TokenVerifier,
                 signed_prefixes: Sequence[str] = SIGNED_PREFIXES,
                 webhook_limit: int = WEBHOOK_LIMIT, json_limit: int = JSON_LIMIT,
                 bearer_first: bool = True) -> None:  # fmt: skip
        self.app = app
        self.bearer_first = bearer_first  # False: the console's cookie sessions instead
        self.verifier = verifier
        self.signed_prefixes = tuple(signed_prefixes)
        self.webhook_limit = webhook_limit
        self.json_limit = json_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        request_id = _request_id(scope)

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}  # fmt: skip
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                try:
                    receive = await self._admit(scope, receive)
                    await self.app(scope, receive, tracked_send)
                except _Refused as refused:
                    await refused.response(scope, receive, tracked_send)
                except Exception as exc:
                    error_id = uuid.uuid4().hex
                    # the type and where, never the message (it may quote the input)
                    log.error("request.failed", error_id=error_id, path=scope.get("path"),
                              exc_info=exc)  # fmt: skip
                    if not started:
                        response = problem_response(500, "Internal error", detail=f"error id {error_id}",
                                                    extra={"error_id": error_id})  # fmt: skip
                        await response(scope, receive, tracked_send)
        finally:
            REQUEST_ID.reset(token)

    async def _admit(self, scope: Scope, receive: Receive) -> Receive:
        request = Request(scope)
        path: str = scope["path"]
        signed = path.startswith(self.signed_prefixes)
        limit = self.webhook_limit if signed else self.json_limit
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise _Refused(413, f"Payload too large (limit {limit} bytes)", field="body")
        writes = request.method in ("POST", "PUT", "PATCH")
        if self.bearer_first and not signed and _is_json(request) and writes:
            try:
                token = bearer_token(request.headers.get("authorization", ""))
                principal = await self.verifier.verify(token)
            except Problem as exc:
                raise _Refused(exc.status, exc.title, detail=exc.detail, field="Authorization",
                               headers=exc.headers) from exc  # fmt: skip
            scope.setdefault("state", {})[PRINCIPAL_STATE] = (token, principal)
        return _counted(receive, limit)


class _Refused(Exception):
    def __init__(self, status: int, title: str, *, detail: str | None = None,
                 field: str | None = None, headers: dict[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(title)
        errors = [{"field": field, "message": detail or title}] if field else None
        self.response = problem_response(status, title, detail=detail, errors=errors,
                                         headers=headers)  # fmt: skip


REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _request_id(scope: Scope) -> str:
    """The caller's X-Request-ID when it is a plain token, else a new one."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            given = str(value.decode("latin-1"))
            if REQUEST_ID_RE.fullmatch(given):
                return given
    return uuid.uuid4().hex


def _is_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _counted(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message: Any = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message  # type: ignore[no-any-return]

    return counted
