"""The console's own routes: sign-in (OIDC or development), the live feed, the caller's
history, and the proxy to the three services. Every unsafe request must come from our own
origin and echo the sign-in's CSRF token."""

import csv
import hmac
import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import jwt
from fastapi import APIRouter, Depends, Header, Query, Request, Response, Security
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.security import APIKeyCookie
from hotline_shared.auth import Role, TokenVerifier, mint_token
from hotline_shared.centers import Centers
from hotline_shared.clock import Clock
from hotline_shared.problems import BODY_PROBLEMS, Problem, problem_responses
from pydantic import BaseModel, ConfigDict, Field

from hotline_console.feed import Feed
from hotline_console.oidc import OidcClient, pkce_pair
from hotline_console.proxy import Upstreams
from hotline_console.settings import ConsoleSettings
from hotline_console.websessions import COOKIE, WebSession, WebSessions

LOGIN_COOKIE = "hotline_login"  # binds an OIDC state to the browser that started the login
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Console:
    settings: ConsoleSettings
    sessions: WebSessions
    upstreams: Upstreams
    feed: Feed
    verifier: TokenVerifier
    centers: Centers
    clock: Clock
    oidc: OidcClient | None
    dev_secret: str | None  # the development JWT secret, only with HOTLINE_DEV_LOGIN=1


class DevLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sub: str = Field(pattern=r"^[A-Za-z0-9._@-]{1,64}$", description="the user id")
    role: Literal["counselor", "supervisor", "admin"]
    center_id: str = Field(min_length=1, max_length=64)
    agent_ids: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default=[], max_length=5, description="the user's ids at the telephony providers"
    )


# ---- the API document: how each route is authenticated, and what it answers ---------------

# The browser's sign-in session (HttpOnly, set by sign-in), checked by `signed_in` below; an
# unsafe request also echoes the session's CSRF token in X-CSRF-Token.
SESSION_COOKIE = APIKeyCookie(
    name=COOKIE, scheme_name="consoleSession", auto_error=False,
    description="the console's sign-in session cookie (sign in at /bff/login or "
    "/bff/dev-login); unsafe methods also send X-CSRF-Token from /bff/me",
)  # fmt: skip
PUBLIC: dict[str, Any] = {"security": []}  # the sign-in routes: nobody is signed in yet
# A signed-in route: not signed in (401), cross-origin or no CSRF token (403), invalid input
# (422), the server's trouble (500, 503: MongoDB, the identity provider).
SIGNED_IN_PROBLEMS = problem_responses(401, 403, 422, 500, 503)
# What the console asks a service for on the user's behalf: its problems pass through (400,
# 403, 404, 409, 422, 429, …), 502 when it is unreachable.
UPSTREAM_PROBLEMS = problem_responses(400, 404, 409, 429, 502)


def _text(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description,
                  "content": {media_type: {"schema": {"type": "string"}}}}}  # fmt: skip


class Me(BaseModel):
    sub: str
    role: Role
    centers: list[str]
    agent_ids: list[str]
    csrf_token: str = Field(description="send it as X-CSRF-Token with every unsafe request")
    expires_at: str


class SignInOptions(BaseModel):
    oidc: bool = Field(description="single sign-on is configured (/bff/login)")
    dev_login: bool = Field(description="development sign-in is on (/bff/dev-login)")
    centers: list[str] = Field(description="the centers to sign in to (development only)")


class CallerHistory(BaseModel):
    """Parts of three services' answers, as they gave them (see their API documents)."""

    contact_id: str
    previous_contacts: list[dict[str, Any]] = Field(
        description="intake: GET /v1/contacts/{contact_id}/history items"
    )
    last_risk: dict[str, Any] | None = Field(description="the newest earlier contact's risk")
    last_safety_plan: dict[str, Any] = Field(
        description="sessions: GET /v1/sessions/{session_id}/previous-safety-plan"
    )
    open_followups: list[dict[str, Any]] = Field(description="follow-up: GET /v1/followups items")


def _same_origin(request: Request, public_url: str) -> None:
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") != public_url.rstrip("/"):
        raise Problem(403, "Cross-origin request refused", field="Origin")


def build_router(get: Callable[[], Console]) -> APIRouter:
    router = APIRouter()

    async def signed_in(
        request: Request, _cookie: Annotated[str | None, Security(SESSION_COOKIE)]
    ) -> WebSession:
        console = get()
        session = await console.sessions.get(request.cookies.get(COOKIE), now=console.clock.now())
        if session is None:
            raise Problem(401, "Not signed in", detail="sign in again")
        if request.method in UNSAFE:
            _same_origin(request, console.settings.public_url)
            given = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(given.encode(), session.csrf.encode()):
                raise Problem(403, "CSRF token missing or wrong", field=CSRF_HEADER)
        return session

    SignedIn = Annotated[WebSession, Depends(signed_in)]

    @router.get("/bff/me", tags=["console"], response_model=Me, responses=SIGNED_IN_PROBLEMS)
    async def me(session: SignedIn) -> dict[str, Any]:
        who = session.principal
        return {"sub": who.sub, "role": who.role, "centers": who.centers,
                "agent_ids": who.agent_ids, "csrf_token": session.csrf,
                "expires_at": session.expires_at.isoformat()}  # fmt: skip

    @router.get("/bff/sign-in-options", tags=["console"], response_model=SignInOptions,
                openapi_extra=PUBLIC, responses=problem_responses(500))  # fmt: skip
    async def sign_in_options() -> dict[str, Any]:
        console = get()
        return {"oidc": console.oidc is not None, "dev_login": console.dev_secret is not None,
                "centers": console.centers.ids() if console.dev_secret else []}  # fmt: skip

    @router.post("/bff/dev-login", tags=["console"], status_code=204, openapi_extra=PUBLIC,
                 responses=BODY_PROBLEMS | problem_responses(403, 404, 422, 500, 503))  # fmt: skip
    async def dev_login(body: DevLogin, request: Request) -> Response:
        """Development only (HOTLINE_DEV_LOGIN=1): sign in as anyone."""
        console = get()
        if console.dev_secret is None:
            raise Problem(404, "Not found")
        _same_origin(request, console.settings.public_url)
        if body.center_id not in console.centers.ids():
            raise Problem(422, "Unknown center", field="center_id")
        now = console.clock.now()
        token = mint_token(console.dev_secret, sub=body.sub, role=body.role,
                           centers=[body.center_id], now=now, agent_ids=body.agent_ids)  # fmt: skip
        return await _start_session(console, token, Response(status_code=204))

    @router.get("/bff/login", tags=["console"], status_code=302, response_class=RedirectResponse,
                openapi_extra=PUBLIC, responses={
                    302: {"description": "to the identity provider's sign-in (PKCE)",
                          "headers": {"Location": {"schema": {"type": "string"}}}},
                    **problem_responses(404, 500, 503)})  # fmt: skip
    async def login() -> Response:
        """OpenID Connect: to the identity provider, with PKCE."""
        console = get()
        if console.oidc is None:
            raise Problem(404, "Single sign-on is not configured")
        state = secrets.token_urlsafe(32)
        verifier, challenge = pkce_pair()
        await console.sessions.begin_login(state=state, verifier=verifier, return_to="/",
                                           now=console.clock.now())  # fmt: skip
        response = RedirectResponse(await console.oidc.authorization_url(state=state,
                                                                         challenge=challenge),
                                    status_code=302)  # fmt: skip
        response.set_cookie(LOGIN_COOKIE, state, max_age=600, httponly=True, path="/bff/callback",
                            secure=console.settings.cookie_secure, samesite="lax")  # fmt: skip
        return response

    @router.get("/bff/callback", tags=["console"], response_class=HTMLResponse, openapi_extra=PUBLIC,
                responses=problem_responses(400, 401, 403, 404, 422, 500, 503))  # fmt: skip
    async def callback(request: Request, code: Annotated[str, Query(max_length=2048)],
                       state: Annotated[str, Query(max_length=256)]) -> Response:  # fmt: skip
        console = get()
        if console.oidc is None:
            raise Problem(404, "Single sign-on is not configured")
        bound = request.cookies.get(LOGIN_COOKIE, "")
        pending = await console.sessions.finish_login(state, now=console.clock.now())
        if pending is None or not hmac.compare_digest(bound.encode(), state.encode()):
            raise Problem(400, "Sign-in expired or not started here", field="state")
        tokens = await console.oidc.exchange(code=code, verifier=pending["verifier"])
        # The redirect from the provider is cross-site: a SameSite=Strict cookie set now is
        # sent only from the next, same-site navigation, which this page makes.
        page = HTMLResponse('<!doctype html><meta http-equiv="refresh" content="0;url=/">'
                            "<title>Signing in</title>")  # fmt: skip
        page.delete_cookie(LOGIN_COOKIE, path="/bff/callback")
        return await _start_session(console, tokens["access_token"], page)

    @router.post("/bff/logout", tags=["console"], status_code=204, responses=SIGNED_IN_PROBLEMS)
    async def logout(request: Request, _session: SignedIn) -> Response:
        await get().sessions.end(request.cookies.get(COOKIE))
        response = Response(status_code=204)
        response.delete_cookie(COOKIE, path="/")
        return response

    @router.get("/bff/events", tags=["console"], response_class=StreamingResponse,
                responses=SIGNED_IN_PROBLEMS | _text("text/event-stream", "Server-Sent Events"))  # fmt: skip
    async def events(session: SignedIn,
                     last_event_id: Annotated[str | None, Header(max_length=64)] = None) -> Response:  # fmt: skip
        """Server-Sent Events: what concerns this user, live."""
        console = get()

        async def known() -> list[str]:
            return await _my_contact_ids(console, session)

        async def alive() -> bool:
            now = console.clock.now()
            return now < session.expires_at and await console.sessions.exists(session.id, now=now)

        stream = console.feed.stream(session.principal, last_event_id=last_event_id,
                                     known=known, alive=alive)  # fmt: skip
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})  # fmt: skip

    @router.get("/bff/contacts/{contact_id}/history", tags=["console"], response_model=CallerHistory,
                responses=SIGNED_IN_PROBLEMS | UPSTREAM_PROBLEMS)  # fmt: skip
    async def history(contact_id: str, session: SignedIn) -> dict[str, Any]:
        """The caller's history in this center: earlier contacts and their risk (intake), the
        last safety plan (sessions), open follow-ups (follow-up). Each part access-checked and
        audited by the service that holds it."""
        return await caller_history(get(), session, contact_id)

    @router.get("/bff/export/kpis.csv", tags=["console"], response_class=Response,
                responses=SIGNED_IN_PROBLEMS | UPSTREAM_PROBLEMS | _text("text/csv", "KPIs per interval"))  # fmt: skip
    async def export_kpis(session: SignedIn, request: Request) -> Response:
        """The contact KPIs per interval, as the KPI API gives them (no PHI), for a spreadsheet."""
        page = await get().upstreams.json("intake", "v1/kpis/operations/intervals", token=session.token,
                                          params=list(request.query_params.multi_items()))  # fmt: skip
        return _csv("kpis.csv", KPI_COLUMNS, page["intervals"])

    @router.get("/bff/export/followups.csv", tags=["console"], response_class=Response,
                responses=SIGNED_IN_PROBLEMS | UPSTREAM_PROBLEMS | _text("text/csv", "the funnel by kind"))  # fmt: skip
    async def export_followups(session: SignedIn, request: Request) -> Response:
        """Follow-up outcomes by kind for the interval (scheduled, attempted, reached,
        declined, lost): counts only, no PHI."""
        page = await get().upstreams.json("followup", "v1/kpis/followups", token=session.token,
                                          params=list(request.query_params.multi_items()))  # fmt: skip
        rows = [{"kind": kind, **counts} for kind, counts in page["funnel"].items()]
        return _csv("followups.csv", FUNNEL_COLUMNS, rows)

    async def proxy(service: str, path: str, request: Request, session: SignedIn) -> Response:
        return await get().upstreams.forward(request, service, path, token=session.token)

    # One route a method, so each has an operation id of its own.
    passed_through: dict[int | str, dict[str, Any]] = {
        200: {"description": "the service's answer (status, body and content type as it gave "
              "them: see its own API document)", "content": {"application/json": {"schema": {}}}}
    }  # fmt: skip
    for method in ("GET", *UNSAFE):
        router.add_api_route("/api/{service}/{path:path}", proxy, methods=[method],
                             tags=["console"], operation_id=f"proxy_{method.lower()}",
                             response_class=Response,
                             responses=SIGNED_IN_PROBLEMS | UPSTREAM_PROBLEMS | passed_through)  # fmt: skip

    return router


KPI_COLUMNS = ("start", "offered", "answered", "abandoned", "short_abandoned", "answer_rate",
               "abandonment_rate", "average_speed_to_answer_seconds", "service_level")  # fmt: skip
FUNNEL_COLUMNS = ("kind", "scheduled", "attempted", "reached", "declined", "lost")


def _csv(name: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if r.get(k) is None else r[k]) for k in columns} for r in rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


async def _start_session(console: Console, token: str, response: Response) -> Response:
    principal = await console.verifier.verify(token)
    if principal.role is Role.SERVICE:
        raise Problem(403, "Service tokens cannot sign in", field="role")
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    cookie, session = await console.sessions.create(
        token,
        principal,
        now=console.clock.now(),
        token_expires=datetime.fromtimestamp(expires, UTC),
    )
    max_age = int((session.expires_at - console.clock.now()).total_seconds())
    response.set_cookie(COOKIE, cookie, max_age=max_age, httponly=True, path="/",
                        secure=console.settings.cookie_secure, samesite="strict")  # fmt: skip
    return response


async def _my_contact_ids(console: Console, session: WebSession) -> list[str]:
    """The counselor's contacts now, so the feed follows them from the first event."""
    if session.principal.role is not Role.COUNSELOR:
        return []
    ids: list[str] = []
    for center_id in session.principal.centers:
        page = await console.upstreams.json("intake", "v1/contacts", token=session.token,
                                            params={"center_id": center_id})  # fmt: skip
        ids.extend(item["id"] for item in page["items"])
    return ids


async def caller_history(console: Console, session: WebSession, contact_id: str) -> dict[str, Any]:
    token = session.token
    up = console.upstreams
    contacts = await up.json("intake", f"v1/contacts/{contact_id}/history", token=token)
    earlier = contacts["items"]
    plan: Any = {"session_id": None, "safety_plan": None}
    current = await up.json(
        "sessions", "v1/sessions", token=token, params={"contact_id": contact_id}
    )
    if current["items"]:
        plan = await up.json("sessions", f"v1/sessions/{current['items'][0]['id']}/previous-safety-plan",
                             token=token)  # fmt: skip
    followups: list[Any] = []
    if earlier:
        center_id = earlier[0]["center_id"]
        params = [("center_id", center_id), *(("contact_id", c["id"]) for c in earlier[:50])]
        page = await up.json("followup", "v1/followups", token=token, params=params)
        followups = [
            f for f in page["items"] if f.get("status") not in ("completed", "missed", "cancelled")
        ]
    last_risk = next((c["risk"] for c in earlier if c.get("risk")), None)
    return {"contact_id": contact_id, "previous_contacts": earlier, "last_risk": last_risk,
            "last_safety_plan": plan, "open_followups": followups}  # fmt: skip
