"""Sessions service settings (env prefix HOTLINE_SESSIONS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SessionsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_SESSIONS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8002
    overdue_minutes: float = Field(
        default=30, gt=0, description="documentation due after contact end"
    )
    overdue_check_seconds: float = Field(default=10, gt=0)
    close_waits_for_risk_seconds: float = Field(
        default=10, gt=0, description="a close waits this long for the contact's risk facts"
    )
