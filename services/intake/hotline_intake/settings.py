"""Intake service settings (env prefix HOTLINE_INTAKE_)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_INTAKE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8001
