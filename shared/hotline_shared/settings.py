"""Settings shared by every service (env prefix HOTLINE_)."""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_CENTERS_FILE = REPO_ROOT / "deploy" / "local" / "centers.yaml"
T = TypeVar("T")


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


MIN_JWT_SECRET_BYTES = 32
MAX_JWT_LEEWAY_SECONDS = 60


class SecuritySettings(BaseSettings):
    """Secrets and identity settings. Nothing here has a default value that works: a service
    without them refuses to start (development values: deploy/local/dev.env)."""

    model_config = SettingsConfigDict(env_prefix="HOTLINE_", extra="ignore")

    jwt_secret: SecretStr | None = Field(
        default=None, description=f"HS256 key, at least {MIN_JWT_SECRET_BYTES} bytes"
    )
    jwks_url: str | None = Field(default=None, description="the identity provider's JWKS (RS256)")
    jwt_issuer: str | None = Field(default=None, description="required `iss` (required with JWKS)")
    jwt_leeway_seconds: float = Field(default=30, ge=0, le=MAX_JWT_LEEWAY_SECONDS)
    jwks_cache_seconds: float = Field(default=300, gt=0)
    phi_reads_per_window: int = Field(
        default=120, ge=1, description="reads of caller data one user may make per window"
    )
    phi_read_window_seconds: float = Field(default=60, gt=0)
    master_key: SecretStr = Field(description="base64 of 32 bytes: wraps the per-center data keys")
    centers_file: Path = Field(
        description="the centers file (secrets, policy): a secret store mount"
    )

    @model_validator(mode="after")
    def _fail_closed(self) -> SecuritySettings:
        if self.jwks_url is None and self.jwt_secret is None:
            raise ValueError("set HOTLINE_JWT_SECRET (HS256) or HOTLINE_JWKS_URL (RS256)")
        secret = self.jwt_secret.get_secret_value().encode() if self.jwt_secret else None
        if secret is not None and len(secret) < MIN_JWT_SECRET_BYTES:
            raise ValueError(f"HOTLINE_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes")
        if self.jwks_url is not None and not self.jwt_issuer:
            raise ValueError("HOTLINE_JWT_ISSUER is required with HOTLINE_JWKS_URL")
        self.master_key_bytes()
        return self

    def master_key_bytes(self) -> bytes:
        try:
            key = base64.b64decode(self.master_key.get_secret_value(), validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ValueError("HOTLINE_MASTER_KEY must be base64 of 32 bytes")
        return key


class ConfigurationError(SystemExit):
    """A service's configuration is missing or wrong: one clear line, exit status 2."""


def settings_or_exit(service: str, load: Callable[[], T]) -> T:
    """Load settings (or build what needs them); on a configuration error print one line
    naming what is wrong (never a secret's value) and exit non-zero."""
    try:
        return load()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        print(f"hotline-{service}: refusing to start: {problems}", file=sys.stderr)
        raise ConfigurationError(2) from exc
    except ValueError as exc:  # a centers file or policy that does not parse
        print(f"hotline-{service}: refusing to start: {exc}", file=sys.stderr)
        raise ConfigurationError(2) from exc
