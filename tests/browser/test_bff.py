"""The console as a backend-for-frontend, over HTTP: the browser holds a cookie, never a
token; every response carries CSP and no-store; unsafe requests need our origin and the CSRF
token; sign-in is OIDC code + PKCE against the center's provider (here a local one that
records what it is sent), and the development sign-in exists only with HOTLINE_DEV_LOGIN=1."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from hotline_shared.auth import mint_token
from hotline_shared.settings import SecuritySettings

from tests.browser.conftest import Stack
from tests.support import ServiceProcess, unique

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def sign_in(stack: Stack, sub: str = "ana", role: str = "counselor") -> tuple[str, str]:
    """(cookie header value, CSRF token) of a development sign-in."""
    response = httpx.post(f"{stack.console_url}/bff/dev-login", timeout=10,
                          json={"sub": sub, "role": role, "center_id": "center-01"},
                          headers={"Origin": stack.console_url})  # fmt: skip
    assert response.status_code == 204, response.text
    cookie = response.headers["set-cookie"]
    pair = cookie.split(";")[0]
    me = httpx.get(f"{stack.console_url}/bff/me", headers={"Cookie": pair}, timeout=10).json()
    return pair, me["csrf_token"]


def test_the_session_cookie_is_httponly_secure_strict_and_holds_no_token(stack: Stack) -> None:
    response = httpx.post(f"{stack.console_url}/bff/dev-login", timeout=10,
                          json={"sub": "ana", "role": "counselor", "center_id": "center-01"})  # fmt: skip
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert value.count(".") < 2, "a JWT in the cookie"
    pair = response.headers["set-cookie"].split(";")[0]
    me = httpx.get(f"{stack.console_url}/bff/me", headers={"Cookie": pair}, timeout=10)
    assert me.json()["sub"] == "ana"
    assert "eyJ" not in me.text  # no token (base64 JSON header) reaches the browser


@pytest.mark.parametrize("path", ["/", "/contacts/x", "/bff/me", "/bff/sign-in-options",
                                  "/api/intake/v1/contacts?center_id=center-01"])  # fmt: skip
def test_every_response_has_csp_and_no_store(stack: Stack, path: str) -> None:
    pair, _ = sign_in(stack)
    response = httpx.get(f"{stack.console_url}{path}", headers={"Cookie": pair}, timeout=10)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_an_unsafe_request_needs_the_csrf_token_and_our_origin(stack: Stack) -> None:
    pair, csrf = sign_in(stack)
    url = f"{stack.console_url}/api/sessions/v1/sessions/nope/close"
    missing = httpx.post(url, json={}, headers={"Cookie": pair}, timeout=10)
    assert missing.status_code == 403 and missing.json()["errors"][0]["field"] == "X-CSRF-Token"
    foreign = httpx.post(url, json={}, timeout=10, headers={
        "Cookie": pair, "X-CSRF-Token": csrf, "Origin": "https://evil.example"})  # fmt: skip
    assert foreign.status_code == 403
    passed = httpx.post(url, json={}, timeout=10, headers={
        "Cookie": pair, "X-CSRF-Token": csrf, "Origin": stack.console_url})  # fmt: skip
    assert passed.status_code == 404  # reached the sessions service: no such session


def test_without_a_sign_in_nothing_is_proxied(stack: Stack) -> None:
    for path in ("/api/intake/v1/contacts?center_id=center-01", "/bff/events", "/bff/me"):
        response = httpx.get(f"{stack.console_url}{path}", timeout=10)
        assert response.status_code == 401, path
        assert response.headers["content-type"] == "application/problem+json"


def test_the_providers_webhooks_are_not_reachable_through_the_console(stack: Stack) -> None:
    pair, csrf = sign_in(stack)
    response = httpx.post(f"{stack.console_url}/api/intake/v1/telephony/twilio/center-01",
                          headers={"Cookie": pair, "X-CSRF-Token": csrf}, timeout=10)  # fmt: skip
    assert response.status_code == 404


def test_a_sign_out_ends_the_session_everywhere(stack: Stack) -> None:
    pair, csrf = sign_in(stack)
    out = httpx.post(f"{stack.console_url}/bff/logout", timeout=10,
                     headers={"Cookie": pair, "X-CSRF-Token": csrf})  # fmt: skip
    assert out.status_code == 204
    assert (
        httpx.get(f"{stack.console_url}/bff/me", headers={"Cookie": pair}, timeout=10).status_code
        == 401
    )


class IdentityProvider:
    """A local OpenID provider: discovery, an authorize endpoint that signs the user in at once,
    and a token endpoint that checks the PKCE verifier. It records what it is sent."""

    def __init__(self, *, sub: str, role: str, centers: list[str]) -> None:
        secret = SecuritySettings().jwt_secret
        assert secret is not None
        self.token = mint_token(secret.get_secret_value(), sub=sub, role=role, centers=centers)
        self.challenges: dict[str, str] = {}
        self.exchanges: list[dict[str, list[str]]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/.well-known/openid-configuration":
                    return self._json(200, {"issuer": provider.url,
                                            "authorization_endpoint": f"{provider.url}/authorize",
                                            "token_endpoint": f"{provider.url}/token"})  # fmt: skip
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                code = unique("code-")
                provider.challenges[code] = query["code_challenge"]
                assert query["code_challenge_method"] == "S256"
                target = (
                    f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
                )
                self.send_response(302)
                self.send_header("Location", target)
                self.end_headers()
                return None

            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                provider.exchanges.append(form)
                verifier = form["code_verifier"][0].encode()
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
                if provider.challenges.pop(form["code"][0], None) != challenge.decode():
                    return self._json(400, {"error": "invalid_grant"})
                return self._json(200, {"access_token": provider.token, "token_type": "Bearer",
                                        "expires_in": 3600})  # fmt: skip

            def _json(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def sso_console(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, IdentityProvider]]:
    provider = IdentityProvider(sub="sso-user", role="supervisor", centers=["center-01"])
    env = {k: v for k, v in stack.console.env.items() if k != "HOTLINE_DEV_LOGIN"}
    env |= {"HOTLINE_OIDC_ISSUER": provider.url, "HOTLINE_OIDC_CLIENT_ID": "hotline-console",
            "HOTLINE_DEV_LOGIN": "0"}  # fmt: skip
    console = ServiceProcess("console", env, Path(tmp_path_factory.mktemp("sso-console")))
    console.env["HOTLINE_CONSOLE_PUBLIC_URL"] = f"http://localhost:{console.port}"
    console.start()
    try:
        console.wait_ready_blocking()
        yield console, provider
    finally:
        console.stop()
        provider.server.shutdown()


def test_oidc_code_flow_with_pkce_signs_in_and_keeps_the_token_server_side(
    sso_console: tuple[ServiceProcess, IdentityProvider],
) -> None:
    console, provider = sso_console
    base = f"http://localhost:{console.port}"
    options = httpx.get(f"{base}/bff/sign-in-options", timeout=10).json()
    assert options == {"oidc": True, "dev_login": False, "centers": []}
    start = httpx.get(f"{base}/bff/login", timeout=10)
    assert start.status_code == 302
    login_cookie = start.headers["set-cookie"].split(";")[0]
    at_provider = httpx.get(start.headers["location"], timeout=10)  # signs in, redirects back
    callback = at_provider.headers["location"]
    assert callback.startswith(f"{base}/bff/callback?")
    back = httpx.get(callback, headers={"Cookie": login_cookie}, timeout=10)
    assert back.status_code == 200 and 'http-equiv="refresh"' in back.text
    session = next(
        c for c in back.headers.get_list("set-cookie") if c.startswith("hotline_session=")
    )
    assert "HttpOnly" in session and "SameSite=strict" in session.replace("Strict", "strict")
    me = httpx.get(f"{base}/bff/me", headers={"Cookie": session.split(";")[0]}, timeout=10).json()
    assert (me["sub"], me["role"]) == ("sso-user", "supervisor")
    assert provider.exchanges[0]["grant_type"] == ["authorization_code"]
    assert provider.token not in back.text + json.dumps(me)
    replay = httpx.get(callback, headers={"Cookie": login_cookie}, timeout=10)
    assert replay.status_code == 400  # a code's state is good once


def test_a_callback_not_started_in_this_browser_is_refused(
    sso_console: tuple[ServiceProcess, IdentityProvider],
) -> None:
    console, _ = sso_console
    base = f"http://localhost:{console.port}"
    start = httpx.get(f"{base}/bff/login", timeout=10)
    callback = httpx.get(start.headers["location"], timeout=10).headers["location"]
    stolen = httpx.get(callback, timeout=10)  # no login cookie: someone else's browser
    assert stolen.status_code == 400


def test_the_development_sign_in_does_not_exist_without_dev_login(
    sso_console: tuple[ServiceProcess, IdentityProvider],
) -> None:
    console, _ = sso_console
    response = httpx.post(f"http://localhost:{console.port}/bff/dev-login", timeout=10,
                          json={"sub": "x", "role": "admin", "center_id": "center-01"})  # fmt: skip
    assert response.status_code == 404
