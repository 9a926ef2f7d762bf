"""Console settings (env prefix HOTLINE_CONSOLE_; sign-in: HOTLINE_OIDC_*, HOTLINE_DEV_LOGIN)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

WEB_DIST = Path(__file__).resolve().parents[1] / "web" / "dist"


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_CONSOLE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8004
    public_url: str = Field(
        default="http://localhost:8004",
        description="the origin browsers open (CSRF origin check, OIDC redirect)",
    )
    intake_url: str = "http://127.0.0.1:8001"
    sessions_url: str = "http://127.0.0.1:8002"
    followup_url: str = "http://127.0.0.1:8003"
    web_dir: Path = WEB_DIST
    session_hours: float = Field(default=10, gt=0, description="a sign-in lasts this long")
    replica_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        description="names this replica's own live-feed consumer group",
    )
    feed_buffer: int = Field(default=20_000, ge=100, description="events kept for reconnects")
    cookie_secure: bool = True
    dev_login: bool = Field(
        default=False,
        validation_alias=AliasChoices("HOTLINE_DEV_LOGIN", "HOTLINE_CONSOLE_DEV_LOGIN"),
        description="a sign-in that picks user, role and center: development only",
    )


class OidcSettings(BaseSettings):
    """The center's identity provider (authorization code + PKCE). Its access tokens are the
    services' bearer tokens: audience `hotline`, claims role and centers."""

    model_config = SettingsConfigDict(env_prefix="HOTLINE_OIDC_", extra="ignore")

    issuer: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    scopes: str = "openid profile"

    @property
    def configured(self) -> bool:
        return bool(self.issuer and self.client_id)
