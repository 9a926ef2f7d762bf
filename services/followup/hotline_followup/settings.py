"""Followup service settings (env prefix HOTLINE_FOLLOWUP_)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class FollowupSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_FOLLOWUP_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8003
