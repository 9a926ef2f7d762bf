"""JWT bearer auth: claims sub, role, centers. HS256 in development, RS256/JWKS in production."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline_shared.problems import Problem
from hotline_shared.settings import SecuritySettings

AUDIENCE = "hotline"


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

    def can_access(self, center_id: str) -> bool:
        return self.role in (Role.ADMIN, Role.SERVICE) or center_id in self.centers

    def require_center(self, center_id: str) -> None:
        if not self.can_access(center_id):
            raise Problem(403, "Forbidden", detail="not a member of this center", field="center_id")


class TokenVerifier:
    def __init__(self, settings: SecuritySettings) -> None:
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None

    def verify(self, token: str) -> Principal:
        try:
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
                claims = jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE)
            elif self._secret is not None:
                claims = jwt.decode(token, self._secret, algorithms=["HS256"], audience=AUDIENCE)
            else:
                raise Problem(503, "Authentication not configured")
            return Principal.model_validate(claims, strict=False, from_attributes=False)
        except (jwt.PyJWTError, ValidationError) as exc:
            raise Problem(
                401,
                "Unauthorized",
                detail=f"invalid bearer token ({type(exc).__name__})",
                headers={"WWW-Authenticate": "Bearer"},
            ) from exc


def mint_token(
    secret: str,
    *,
    sub: str,
    role: Role | str,
    centers: list[str],
    now: datetime | None = None,
    ttl: timedelta = timedelta(hours=8),
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
    return jwt.encode(claims, secret, algorithm="HS256")


def bearer(
    verifier: TokenVerifier, *roles: Role
) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """FastAPI dependency: the caller's Principal, if its role is one of `roles`."""
    allowed = set(roles) or set(Role)

    async def dependency(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Problem(
                401,
                "Unauthorized",
                detail="missing bearer token",
                field="Authorization",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = verifier.verify(token.strip())
        if principal.role not in allowed:
            raise Problem(403, "Forbidden", detail=f"role {principal.role} may not do this")
        return principal

    return dependency
