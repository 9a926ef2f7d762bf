"""The centers file (HOTLINE_CENTERS_FILE): one entry per center with its secrets and policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

DEFAULT_CARING_MESSAGE = (
    "Thinking of you and hoping you are doing OK. We are here any time you want to talk. "
    "Reply STOP to stop these messages."
)


class Retention(BaseModel):
    """How long a center keeps records (days). Clinical: contacts, screenings, escalations,
    sessions and their note versions, follow-ups, caring series. Operational: event-log
    claims, alert deliveries, rate-limit counters, answered-caller markers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    clinical_days: int = Field(default=2557, ge=1, description="7 years")
    operational_days: int = Field(default=90, ge=1)


class Messaging(BaseModel):
    """A center's outbound messages: SMS through its Twilio account, email through the SMTP
    relay the follow-up service is configured with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    twilio_account_sid: str | None = Field(default=None, pattern=r"^AC[0-9a-fA-F]{32}$")
    sms_from: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$", description="E.164")
    email_from: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    caring_message: str = Field(default=DEFAULT_CARING_MESSAGE, min_length=1, max_length=600)


class Center(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str
    timezone: str = "UTC"
    twilio_auth_token: SecretStr | None = None
    amazon_connect_api_key: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    caller_token_pepper: SecretStr
    alert_webhook_url: str | None = None
    alert_webhook_secret: SecretStr | None = None
    oncall_webhook_url: str | None = Field(
        default=None,
        description="where an imminent-risk alert goes when no supervisor acknowledged it in "
        "time (signed with alert_webhook_secret)",
    )
    policy: dict[str, Any] = Field(default_factory=dict, description="policy overrides")
    calling_hours: str = Field(
        default="09:00-21:00",
        pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$",
        description="when follow-up calls may be made, in the center's time zone",
    )
    short_abandon_seconds: float = Field(
        default=5, ge=0, description="a caller who leaves the queue sooner is a short abandon"
    )
    messaging: Messaging | None = Field(
        default=None, description="how caring-contact messages go out (none: not sent)"
    )
    retention: Retention = Retention()

    @model_validator(mode="after")
    def _alerts_are_signed(self) -> Center:
        """An alert webhook is never signed with an empty key: no secret, no center."""
        secret = self.alert_webhook_secret.get_secret_value() if self.alert_webhook_secret else ""
        if (self.alert_webhook_url or self.oncall_webhook_url) and len(secret) < 16:
            raise ValueError(
                "alert_webhook_url and oncall_webhook_url need an alert_webhook_secret of 16+ characters"
            )
        return self


class CentersFileError(ValueError):
    """The centers file does not parse; the message names the center and field."""


class Centers:
    def __init__(self, centers: list[Center]) -> None:
        self._by_id = {c.id: c for c in centers}
        if len(self._by_id) != len(centers):
            raise CentersFileError("centers file: duplicate center id")

    def get(self, center_id: str) -> Center | None:
        return self._by_id.get(center_id)

    def ids(self) -> list[str]:
        return list(self._by_id)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())


def load_centers(path: Path) -> Centers:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CentersFileError(f"centers file {path}: {exc}") from exc
    if not isinstance(raw, list):
        raise CentersFileError(f"centers file {path}: expected a list of centers")
    centers = []
    for index, entry in enumerate(raw):
        label = entry.get("id", f"#{index}") if isinstance(entry, dict) else f"#{index}"
        try:
            centers.append(Center.model_validate(entry))
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            raise CentersFileError(
                f"centers file {path}: center {label}: invalid {fields}"
            ) from exc
    return Centers(centers)
