"""Wiring: the console's FastAPI app serves the built web app and is its backend-for-frontend."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from hotline_shared.keystore import load_keyring
from hotline_shared.mongo import ensure_indexes
from hotline_shared.problems import Problem
from hotline_shared.service import Periodic, Runtime, create_app, create_runtime
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotline_console import routes
from hotline_console.feed import Feed
from hotline_console.oidc import OidcClient
from hotline_console.proxy import Upstreams
from hotline_console.settings import ConsoleSettings, OidcSettings
from hotline_console.websessions import INDEXES, WebSessions

# Everything from our own origin, nothing inline, no framing: an injected script has nowhere
# to load from and nowhere to send to.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    """CSP, no-store and friends on every response the console sends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k not in names]
                message = {**message, "headers": [*kept, *HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)


def build_app(
    runtime: Runtime | None = None,
    settings: ConsoleSettings | None = None,
    oidc: OidcSettings | None = None,
) -> FastAPI:
    runtime = runtime or create_runtime("console")
    settings = settings or ConsoleSettings()
    oidc = oidc or OidcSettings()
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(15, connect=3), limits=httpx.Limits(max_connections=200)
    )
    feed = Feed(
        runtime.kafka,
        group_id=f"hotline-console.{settings.replica_id}",
        capacity=settings.feed_buffer,
    )
    holder: dict[str, routes.Console] = {}

    def console() -> routes.Console:
        return holder["console"]

    async def startup(rt: Runtime) -> None:
        await ensure_indexes(rt.db, INDEXES)
        keyring = await load_keyring(rt.db, rt.security.master_key_bytes(), ["console"])
        secret = rt.security.jwt_secret
        holder["console"] = routes.Console(
            settings=settings,
            sessions=WebSessions(rt.db, keyring, ttl=timedelta(hours=settings.session_hours)),
            upstreams=Upstreams(
                {
                    "intake": settings.intake_url,
                    "sessions": settings.sessions_url,
                    "followup": settings.followup_url,
                },
                http,
            ),
            feed=feed,
            verifier=rt.verifier,
            centers=rt.centers,
            clock=rt.clock,
            oidc=OidcClient(
                oidc, redirect_uri=settings.public_url.rstrip("/") + "/bff/callback", http=http
            )
            if oidc.configured
            else None,
            dev_secret=secret.get_secret_value() if settings.dev_login and secret else None,
        )
        await feed.start()

    async def shutdown(_rt: Runtime) -> None:
        await feed.stop()
        await http.aclose()

    app = create_app(
        runtime,
        title="hotline console",
        routers=[routes.build_router(console)],
        startup=startup,
        shutdown=shutdown,
        periodic=[
            Periodic(
                "sign-in-purge", 600, lambda: console().sessions.purge(now=runtime.clock.now())
            )
        ],
        ready=lambda: feed.ready,
        bearer_first=False,
    )
    _serve_web_app(app, settings.web_dir)
    app.add_middleware(SecurityHeaders)
    return app


def _serve_web_app(app: FastAPI, web_dir: Path) -> None:
    """The built app (`make install` builds it): hashed assets, and index.html for every
    other page path (the app routes in the browser)."""
    assets = web_dir / "assets"
    if assets.is_dir():
        app.mount("/assets", StaticFiles(directory=assets), name="assets")

    @app.get("/{page:path}", include_in_schema=False)
    async def index(page: str, request: Request) -> Response:
        if page.startswith(("api/", "bff/", "v1/")) or "." in page.rsplit("/", 1)[-1]:
            raise Problem(404, "Not found")
        index_html = web_dir / "index.html"
        if not index_html.is_file():
            raise Problem(503, "Web app not built", detail="run `make install`")
        return FileResponse(index_html, media_type="text/html")
