"""Settings shared by every service (env prefix HOTLINE_)."""

from __future__ import annotations

import base64
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_CENTERS_FILE = REPO_ROOT / "deploy" / "local" / "centers.yaml"


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_KAFKA_", extra="ignore")

    bootstrap: str = "127.0.0.1:9092"
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    retries: int = Field(default=3, ge=1, description="handler attempts before the DLQ")
    retry_backoff_ms: int = Field(default=200, ge=0)
    topic_prefix: str = Field(default="", description="test isolation: prepended to topics")


class MongoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_MONGODB_", extra="ignore")

    uri: str = "mongodb://127.0.0.1:27017"
    database_prefix: str = Field(default="", description="test isolation: prepended to names")


class SecuritySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_", extra="ignore")

    jwt_secret: SecretStr | None = SecretStr("dev-only-jwt-secret-change-me-0123456789")
    jwks_url: str | None = None
    master_key: SecretStr = Field(
        default=SecretStr("ZGV2LW9ubHktbWFzdGVyLWtleS0zMi1ieXRlcy0hISE="),
        description="base64 of 32 bytes: wraps the per-center data keys (dev default)",
    )
    centers_file: Path = DEV_CENTERS_FILE

    def master_key_bytes(self) -> bytes:
        key = base64.b64decode(self.master_key.get_secret_value())
        if len(key) != 32:
            raise ValueError("HOTLINE_MASTER_KEY must be base64 of 32 bytes")
        return key
