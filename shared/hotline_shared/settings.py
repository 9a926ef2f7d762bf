"""Settings shared by every service (env prefix HOTLINE_)."""

from __future__ import annotations

import base64
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_CENTERS_FILE = REPO_ROOT / "deploy" / "local" / "centers.yaml"
T = TypeVar("T")


class KafkaSettings(BaseSettings):
    """Kafka connection. In production: SASL_SSL with SCRAM-SHA-512 (each service its own
    principal; topic ACLs in docs/operations.md); locally and in tests: PLAINTEXT."""

    model_config = SettingsConfigDict(env_prefix="HOTLINE_KAFKA_", extra="ignore")

    bootstrap: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = Field(default=None, description="CA bundle (default: system)")
    ssl_certfile: Path | None = Field(default=None, description="client certificate (mTLS)")
    ssl_keyfile: Path | None = None
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    retries: int = Field(default=3, ge=1, description="handler attempts before the DLQ")
    retry_backoff_ms: int = Field(default=200, ge=0)
    topic_prefix: str = Field(default="", description="test isolation: prepended to topics")

    @model_validator(mode="after")
    def _credentials(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                "HOTLINE_KAFKA_SASL_USERNAME and HOTLINE_KAFKA_SASL_PASSWORD are required with SASL"
            )
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.security_protocol.endswith("SSL"):
            return None
        context = ssl.create_default_context(
            cafile=str(self.ssl_cafile) if self.ssl_cafile else None
        )
        if self.ssl_certfile:
            context.load_cert_chain(
                str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None
            )
        return context

    def client_options(self) -> dict[str, Any]:
        """What every aiokafka client (producer, consumer, admin) is given besides its role."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap,
                                   "security_protocol": self.security_protocol,
                                   "ssl_context": self.ssl_context()}  # fmt: skip
        if self.security_protocol.startswith("SASL"):
            assert self.sasl_password is not None
            options |= {"sasl_mechanism": self.sasl_mechanism,
                        "sasl_plain_username": self.sasl_username,
                        "sasl_plain_password": self.sasl_password.get_secret_value()}  # fmt: skip
        return options


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
    retention_interval_seconds: float = Field(
        default=3600, gt=0, description="how often expired records are deleted"
    )
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
    except (ValueError, OSError) as exc:  # a centers file or policy that does not parse,
        # a certificate file that is not there
        print(f"hotline-{service}: refusing to start: {exc}", file=sys.stderr)
        raise ConfigurationError(2) from exc
