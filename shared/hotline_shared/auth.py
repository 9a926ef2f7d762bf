"""JWT bearer auth: claims sub, role, centers. HS256 in development, RS256/JWKS in production."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline_shared.problems import Problem
from hotline_shared.settings import SecuritySettings
from hotline_shared.twilio import SIGNATURE_HEADER

AUDIENCE = "hotline"
BREAK_GLASS_HEADER = "X-Break-Glass-Reason"


class Role(StrEnum):
    COUNSELOR = "counselor"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    SERVICE = "service"


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True)

    sub: str = Field(min_length=1)
    role: Role
    centers: tuple[str, ...] = ()
    agent_ids: tuple[str, ...] = Field(
        default=(),
        description="the user's ids at the telephony providers (TaskRouter worker, "
        "Connect agent, PBX extension): contacts they answered are theirs",
    )
    break_glass: str | None = Field(
        default=None, description="a reason to open another counselor's work (request header)"
    )

    def can_access(self, center_id: str) -> bool:
        return self.role in (Role.ADMIN, Role.SERVICE) or center_id in self.centers

    def require_center(self, center_id: str, unknown: Callable[[], Problem] | None = None) -> None:
        """Another center's resource answers exactly as an unknown one does (404): `unknown`
        makes that answer; a center named in a query is an unknown center."""
        if not self.can_access(center_id):
            raise (unknown or unknown_center)()


def unknown_center() -> Problem:
    return Problem(404, "Unknown center", field="center_id")


class TokenVerifier:
    """Checks a bearer token: signature (HS256 with the configured secret, or RS256 with the
    identity provider's JWKS), `exp`, `iat`, `aud`, and `iss` when an issuer is configured,
    with at most a minute of clock leeway."""

    def __init__(
        self, settings: SecuritySettings, *, http: httpx.AsyncClient | None = None
    ) -> None:
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        self._issuer = settings.jwt_issuer
        self._leeway = settings.jwt_leeway_seconds
        self._jwks = (
            JwksCache(settings.jwks_url, ttl=settings.jwks_cache_seconds, http=http)
            if settings.jwks_url
            else None
        )

    async def verify(self, token: str) -> Principal:
        required = ["exp", "iat", "aud", "sub", *(["iss"] if self._issuer else [])]
        try:
            if self._jwks is not None:
                kid = jwt.get_unverified_header(token).get("kid")
                key: Any = await self._jwks.key(str(kid) if kid else None)
                algorithm = "RS256"
            elif self._secret is not None:
                key, algorithm = self._secret, "HS256"
            else:
                raise Problem(503, "Authentication not configured")
            claims = jwt.decode(token, key, algorithms=[algorithm], audience=AUDIENCE,
                                issuer=self._issuer, leeway=self._leeway,
                                options={"require": required})  # fmt: skip
            claims.pop("break_glass", None)  # a request's reason, never a token's claim
            return Principal.model_validate(claims, strict=False, from_attributes=False)
        except (jwt.PyJWTError, ValidationError) as exc:
            raise Problem(
                401,
                "Unauthorized",
                detail=f"invalid bearer token ({type(exc).__name__})",
                headers={"WWW-Authenticate": "Bearer"},
            ) from exc


class JwksCache:
    """The identity provider's signing keys, fetched without blocking the event loop, kept
    for `ttl` and fetched again when a token names a key we do not have (key rotation), at
    most every `min_refresh` seconds. An unreachable provider is a 503, not a 401."""

    def __init__(self, url: str, *, ttl: float, http: httpx.AsyncClient | None = None,
                 min_refresh: float = 10.0) -> None:  # fmt: skip
        self.url = url
        self.ttl = ttl
        self.min_refresh = min_refresh
        self._http = http
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._fetching: asyncio.Task[None] | None = None
        self._failing = False  # the last fetch failed

    async def key(self, kid: str | None) -> jwt.PyJWK:
        age = time.monotonic() - self._fetched_at
        unknown = kid not in self._keys if kid else not self._keys
        if age > self.ttl or (unknown and age > self.min_refresh):
            await self._refresh(keep_stale=not unknown)
        found = self._keys.get(kid) if kid else next(iter(self._keys.values()), None)
        if found is None and self._failing:
            raise Problem(503, "Identity provider unreachable", headers={"Retry-After": "5"})
        if found is None:
            raise jwt.InvalidKeyError(f"no signing key {kid!r}")
        return found

    async def _refresh(self, *, keep_stale: bool) -> None:
        if self._fetching is None or self._fetching.done():  # concurrent callers share a fetch
            self._fetching = asyncio.create_task(self._fetch())
        try:
            await asyncio.shield(self._fetching)
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            if keep_stale and self._keys:
                return  # the keys we have still verify; try again after min_refresh
            raise Problem(503, "Identity provider unreachable", detail=type(exc).__name__,
                          headers={"Retry-After": "5"}) from exc  # fmt: skip

    async def _fetch(self) -> None:
        client = self._http or httpx.AsyncClient(timeout=5)
        self._failing = True
        try:
            response = await client.get(self.url)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
            self._failing = False
        finally:
            self._fetched_at = time.monotonic()
            if self._http is None:
                await client.aclose()
        self._keys = {str(k.key_id): k for k in keys if k.key_id}


def mint_token(
    secret: str,
    *,
    sub: str,
    role: Role | str,
    centers: list[str],
    now: datetime | None = None,
    ttl: timedelta = timedelta(hours=8),
    agent_ids: list[str] | None = None,
) -> str:
    """A development token (HS256). Production tokens come from the identity provider."""
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": sub,
        "role": str(role),
        "centers": centers,
        "aud": AUDIENCE,
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
    }
    if agent_ids:
        claims["agent_ids"] = agent_ids
    return jwt.encode(claims, secret, algorithm="HS256")


# How the API documents (OpenAPI) say a route is authenticated. They only declare it: the
# request guard and `bearer` below enforce it (auto_error=False: these never answer).
BEARER_SCHEME = HTTPBearer(
    scheme_name="bearer", bearerFormat="JWT", auto_error=False,
    description="A JWT from the identity provider (development: `hotline token`): claims "
    "sub, role, centers, aud=hotline, exp, iat.",
)  # fmt: skip
TWILIO_SIGNATURE = APIKeyHeader(
    name=SIGNATURE_HEADER, scheme_name="twilioSignature", auto_error=False,
    description="Twilio's HMAC-SHA1 of the URL and the sorted form parameters, keyed with the "
    "center's auth token (webhooks only).",
)  # fmt: skip

PRINCIPAL_STATE = "hotline_principal"  # set by the request guard: (token, principal)


def bearer_token(header: str) -> str:
    """The token of an `Authorization: Bearer …` header; 401 when there is none."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401,
            "Unauthorized",
            detail="missing bearer token",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def bearer(verifier: TokenVerifier, *roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """FastAPI dependency: the caller's Principal, if its role is one of `roles`. A token the
    request guard already verified (before the body was parsed) is not verified again. A
    route that depends on it declares the bearer scheme in its OpenAPI document."""
    allowed = set(roles) or set(Role)

    async def dependency(
        request: Request,
        _declared: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_SCHEME)],
    ) -> Principal:
        token = bearer_token(request.headers.get("authorization", ""))
        checked = getattr(request.state, PRINCIPAL_STATE, None)
        if checked is not None and checked[0] == token:
            principal: Principal = checked[1]
        else:
            principal = await verifier.verify(token)
        if principal.role not in allowed:
            raise Problem(403, "Forbidden", detail=f"role {principal.role} may not do this")
        reason = request.headers.get(BREAK_GLASS_HEADER)
        if reason is not None:
            reason = reason.strip()
            if not 3 <= len(reason) <= 500:
                raise Problem(422, "Invalid break-glass reason", field=BREAK_GLASS_HEADER,
                              detail="3 to 500 characters: why you open another counselor's work")  # fmt: skip
            principal = principal.model_copy(update={"break_glass": reason})
        return principal

    return dependency
