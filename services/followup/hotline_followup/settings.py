"""Follow-up service settings (env prefix HOTLINE_FOLLOWUP_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class FollowupSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_FOLLOWUP_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8003
    policy_profile: Literal["default", "demo"] = Field(
        default="default", description="demo: hours become seconds, to watch a whole cycle"
    )
    timer_interval_seconds: float = Field(
        default=0.05, gt=0, description="how often the in-memory timers are checked"
    )
    timer_batch: int = Field(default=500, ge=1, description="timers fired per database round trip")
    timer_horizon_seconds: float = Field(
        default=60,
        gt=0,
        description="timers due this soon are held in memory (reloaded every half)",
    )
    alert_interval_seconds: float = Field(default=2, gt=0)
    oncall_after_seconds: float = Field(
        default=120,
        gt=0,
        description="an imminent-risk alert nobody acknowledged this long goes to on-call",
    )
    claim_minutes: float = Field(default=15, gt=0, description="a worker's claim on a task expires")
    caring_interval_seconds: float = Field(default=1.0, gt=0, description="caring-message sender")
    public_url: str | None = Field(
        default=None, description="this service's public base URL (Twilio signs and calls it)"
    )
    intake_url: str = Field(default="http://127.0.0.1:8001", description="caller destinations")
    service_token: SecretStr | None = Field(
        default=None, description="bearer for intake; default: minted from the JWT secret"
    )
    twilio_api_url: str = "https://api.twilio.com"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    group_id: str = Field(
        default="hotline-followup", description="consumer group prefix; a new one replays"
    )
