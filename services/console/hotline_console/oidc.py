"""OpenID Connect authorization code flow with PKCE (RFC 7636), against the center's
identity provider. The browser only ever sees the authorization code; the console exchanges
it (with the verifier only it knows) for the access token it keeps server-side."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from hotline_shared.problems import Problem

from hotline_console.settings import OidcSettings


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str


class OidcClient:
    def __init__(
        self, settings: OidcSettings, *, redirect_uri: str, http: httpx.AsyncClient
    ) -> None:
        self.settings = settings
        self.redirect_uri = redirect_uri
        self.http = http
        self._endpoints: Endpoints | None = None
        self._fetched = 0.0

    async def endpoints(self) -> Endpoints:
        if self._endpoints is None or time.monotonic() - self._fetched > 3600:
            assert self.settings.issuer is not None
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                response = await self.http.get(url, timeout=5)
                response.raise_for_status()
                meta = response.json()
                self._endpoints = Endpoints(meta["authorization_endpoint"], meta["token_endpoint"])
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                raise Problem(503, "Identity provider unreachable", detail=type(exc).__name__,
                              headers={"Retry-After": "5"}) from exc  # fmt: skip
            self._fetched = time.monotonic()
        return self._endpoints

    async def authorization_url(self, *, state: str, challenge: str) -> str:
        query = {"response_type": "code", "client_id": self.settings.client_id,
                 "redirect_uri": self.redirect_uri, "scope": self.settings.scopes, "state": state,
                 "code_challenge": challenge, "code_challenge_method": "S256"}  # fmt: skip
        return f"{(await self.endpoints()).authorization}?{urlencode(query)}"

    async def exchange(self, *, code: str, verifier: str) -> dict[str, Any]:
        """The token response for an authorization code; 401 when the provider refuses."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "client_id": self.settings.client_id, "code_verifier": verifier}  # fmt: skip
        secret = self.settings.client_secret
        auth: httpx.Auth | None = (
            httpx.BasicAuth(str(self.settings.client_id), secret.get_secret_value())
            if secret
            else None
        )
        try:
            endpoint = (await self.endpoints()).token
            if auth is None:
                response = await self.http.post(endpoint, data=form, timeout=10)
            else:
                response = await self.http.post(endpoint, data=form, auth=auth, timeout=10)
        except httpx.HTTPError as exc:
            raise Problem(503, "Identity provider unreachable", detail=type(exc).__name__) from exc
        if response.status_code != 200:
            raise Problem(
                401, "Sign-in refused", detail=f"token endpoint answered {response.status_code}"
            )
        body: dict[str, Any] = response.json()
        if not isinstance(body.get("access_token"), str):
            raise Problem(401, "Sign-in refused", detail="no access token")
        return body
