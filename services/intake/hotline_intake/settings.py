"""Intake service settings (env prefix HOTLINE_INTAKE_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_INTAKE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8001
    public_url: str | None = Field(
        default=None, description="what the proxy in front exposes, for Twilio signatures"
    )
    settle_seconds: float = Field(default=120, ge=0, description="wait for a late outcome")
    service_level_seconds: int = Field(default=20, ge=1)
