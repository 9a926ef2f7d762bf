"""The console's calls to intake, sessions and follow-up, made with the signed-in user's
bearer token (which never reaches the browser)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import httpx
from fastapi import Request, Response
from hotline_shared.audit import REQUEST_ID
from hotline_shared.problems import Problem

# What the browser may pass on, and what comes back to it.
FORWARD = ("content-type", "accept", "if-match", "idempotency-key", "x-break-glass-reason")
RETURN = ("etag", "retry-after", "x-request-id")
NOT_PROXIED = ("v1/telephony/", "v1/messaging/")  # providers' signed webhooks, not users'


class Upstreams:
    def __init__(self, urls: dict[str, str], http: httpx.AsyncClient) -> None:
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self.http = http

    def url(self, service: str, path: str) -> str:
        """Only the services' own /v1 API: no dot segments (encoded or not) that would climb
        out of it, to /metrics, /docs or the providers' webhooks."""
        base = self.urls.get(service)
        segments = unquote(path).replace("\\", "/").split("/")
        climbs = any(segment in (".", "..") for segment in segments) or "%" in unquote(path)
        if base is None or climbs or not path.startswith("v1/") or path.startswith(NOT_PROXIED):
            raise Problem(404, "Not found", field="path")
        return f"{base}/{path}"

    async def call(self, method: str, service: str, path: str, *, token: str,
                   params: Any = None, content: bytes | None = None,
                   headers: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
        sent = {**(headers or {}), "authorization": f"Bearer {token}"}
        if (request_id := REQUEST_ID.get()) is not None:
            sent["x-request-id"] = request_id
        try:
            return await self.http.request(method, self.url(service, path), params=params,
                                           content=content, headers=sent)  # fmt: skip
        except httpx.HTTPError as exc:
            raise Problem(502, f"The {service} service is unreachable", detail=type(exc).__name__,
                          headers={"Retry-After": "2"}) from exc  # fmt: skip

    async def json(self, service: str, path: str, *, token: str, params: Any = None) -> Any:
        """GET a JSON document; an upstream problem is passed on as it is."""
        response = await self.call("GET", service, path, token=token, params=params)
        if response.status_code >= 400:
            body = response.json() if response.content else {}
            raise Problem(response.status_code, str(body.get("title", "Upstream error")),
                          detail=body.get("detail"))  # fmt: skip
        return response.json()

    async def forward(self, request: Request, service: str, path: str, *, token: str) -> Response:
        headers = {k: v for k in FORWARD if (v := request.headers.get(k)) is not None}
        response = await self.call(request.method, service, path, token=token,
                                   params=list(request.query_params.multi_items()),
                                   content=await request.body(), headers=headers)  # fmt: skip
        returned = {k: v for k in RETURN if (v := response.headers.get(k)) is not None}
        return Response(response.content, status_code=response.status_code, headers=returned,
                        media_type=response.headers.get("content-type"))  # fmt: skip
