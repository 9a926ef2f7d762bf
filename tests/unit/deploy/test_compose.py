"""docker-compose.yml cannot run here; this keeps it in step with the settings classes."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hotline_console.settings import ConsoleSettings, OidcSettings
from hotline_followup.settings import FollowupSettings
from hotline_intake.settings import IntakeSettings
from hotline_sessions.settings import SessionsSettings
from hotline_shared.settings import KafkaSettings, MongoSettings, SecuritySettings
from pydantic_settings import BaseSettings

from tests.support import ROOT

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = {"intake": (IntakeSettings, 8001), "sessions": (SessionsSettings, 8002),
            "followup": (FollowupSettings, 8003), "console": (ConsoleSettings, 8004)}  # fmt: skip


def env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


KNOWN = set().union(
    *(env_names(s) for s in (KafkaSettings, MongoSettings, SecuritySettings, OidcSettings)),
    {"HOTLINE_DEV_LOGIN"},  # ConsoleSettings.dev_login's name
    *(env_names(s) for s, _ in SERVICES.values()),
)


def test_compose_has_the_infrastructure_on_real_images() -> None:
    services = COMPOSE["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["mongo"]["image"] == "mongo:8"
    assert "--replSet" in services["mongo"]["command"]
    for name in ("kafka", "mongo"):
        assert "healthcheck" in services[name]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_is_built_from_its_dockerfile_on_its_port(name: str) -> None:
    settings_cls, port = SERVICES[name]
    service = COMPOSE["services"][name]
    dockerfile = service["build"]["dockerfile"]
    assert dockerfile == f"services/{name}/Dockerfile"
    assert f"hotline_{name}" in (ROOT / dockerfile).read_text()
    assert service["ports"] == [f"{port}:{port}"]
    assert settings_cls().port == port
    assert service["environment"][f"HOTLINE_{name.upper()}_PORT"] == str(port)
    assert "healthcheck" in service and f":{port}/readyz" in str(service["healthcheck"])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_variable_a_service_gets_is_one_the_settings_read(name: str) -> None:
    env = COMPOSE["services"][name]["environment"]
    unknown = set(env) - KNOWN
    assert not unknown, f"{name}: variables no settings class reads: {unknown}"
    for required in ("HOTLINE_KAFKA_BOOTSTRAP", "HOTLINE_MONGODB_URI", "HOTLINE_CENTERS_FILE"):
        assert required in env


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_compose_has_no_secret_values_only_references_to_the_env_file(name: str) -> None:
    env = COMPOSE["services"][name]["environment"]
    for secret in ("HOTLINE_JWT_SECRET", "HOTLINE_MASTER_KEY"):
        assert env[secret].startswith(f"${{{secret}:?"), f"{name}: {secret} must come from .env"
    assert "dev-only" not in (ROOT / "docker-compose.yml").read_text()
