"""Outbound caring messages: SMS through Twilio's Messages API (httpx, basic auth, a signed
StatusCallback back to us), email through an SMTP relay (the standard library's smtplib, off
the event loop); and the caller's destination, released by intake (audited there)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import httpx
from hotline_shared.auth import Role, mint_token
from hotline_shared.centers import Center
from pydantic import SecretStr


class SendError(Exception):
    """A message could not be handed over. `permanent`: trying again will not help (a number
    the provider refuses, a center without the channel); otherwise try again later."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class NoDestination(SendError):
    """Nothing to send to: no number or email on record, or the center lacks the channel.
    The message is skipped, not retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, permanent=True)


@dataclass(frozen=True)
class Destination:
    number: str | None
    email: str | None


class TwilioMessages:
    """POST /2010-04-01/Accounts/{AccountSid}/Messages.json with To, From, Body and
    StatusCallback; the center's account SID and auth token as basic auth."""

    def __init__(self, http: httpx.AsyncClient, api_url: str) -> None:
        self.http = http
        self.api_url = api_url.rstrip("/")

    @staticmethod
    def configured(center: Center) -> bool:
        m = center.messaging
        return bool(m and m.twilio_account_sid and m.sms_from and center.twilio_auth_token)

    async def send(self, center: Center, *, to: str, body: str, status_callback: str | None) -> str:
        messaging = center.messaging
        token = center.twilio_auth_token
        if (
            messaging is None
            or not messaging.twilio_account_sid
            or not messaging.sms_from
            or token is None
        ):
            raise NoDestination("center has no SMS channel")
        sid = messaging.twilio_account_sid
        form = {"To": to, "From": messaging.sms_from, "Body": body}
        if status_callback:
            form["StatusCallback"] = status_callback
        try:
            response = await self.http.post(f"{self.api_url}/2010-04-01/Accounts/{sid}/Messages.json",
                                             data=form, auth=(sid, token.get_secret_value()))  # fmt: skip
        except httpx.HTTPError as exc:
            raise SendError(f"twilio unreachable ({type(exc).__name__})", permanent=False) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise SendError(f"twilio answered {response.status_code}", permanent=False)
        if not response.is_success:
            code = _error_code(response)
            raise SendError(f"twilio refused ({response.status_code}, code {code})", permanent=True)
        message_sid = response.json().get("sid")
        if not isinstance(message_sid, str) or not message_sid:
            raise SendError("twilio answered without a message sid", permanent=False)
        return message_sid


def _error_code(response: httpx.Response) -> object:
    try:
        return response.json().get("code")
    except ValueError:
        return None


@dataclass(frozen=True)
class SmtpRelay:
    host: str
    port: int
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = 10.0


class SmtpMail:
    """One connection per message: caring messages are few and far between per center."""

    def __init__(self, relay: SmtpRelay) -> None:
        self.relay = relay

    @staticmethod
    def configured(center: Center) -> bool:
        return bool(center.messaging and center.messaging.email_from)

    async def send(self, center: Center, *, to: str, body: str) -> str:
        messaging = center.messaging
        if messaging is None or not messaging.email_from:
            raise NoDestination("center has no email channel")
        message = EmailMessage()
        message["From"] = messaging.email_from
        message["To"] = to
        message["Subject"] = "Thinking of you"  # neutral: inbox previews are seen by others
        message_id = make_msgid(domain=messaging.email_from.rpartition("@")[2])
        message["Message-ID"] = message_id
        message.set_content(body)
        try:
            await asyncio.to_thread(self._deliver, message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise SendError("recipient refused", permanent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(f"smtp failed ({type(exc).__name__})", permanent=False) from exc
        return message_id

    def _deliver(self, message: EmailMessage) -> None:
        relay = self.relay
        with smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout) as smtp:
            if relay.starttls:
                smtp.starttls(
                    context=ssl.create_default_context()
                )  # verified, not Python's default
            if relay.username and relay.password:
                if not relay.starttls:
                    raise SendError(
                        "refusing to log in to the SMTP relay without TLS", permanent=False
                    )
                smtp.login(relay.username, relay.password.get_secret_value())
            smtp.send_message(message)


class IntakeDirectory:
    """The caller's number and email, released by intake for `caring-contact` (intake audits
    every release). The follow-up service calls with a short-lived service token."""

    def __init__(self, http: httpx.AsyncClient, intake_url: str, *,
                 jwt_secret: SecretStr | None, service_token: SecretStr | None) -> None:  # fmt: skip
        self.http = http
        self.intake_url = intake_url.rstrip("/")
        self.jwt_secret = jwt_secret
        self.service_token = service_token

    def _token(self) -> str:
        if self.service_token is not None:
            return self.service_token.get_secret_value()
        if self.jwt_secret is None:
            raise SendError("no service credentials to reach intake", permanent=False)
        return mint_token(self.jwt_secret.get_secret_value(), sub="service:followup",
                          role=Role.SERVICE, centers=[], now=datetime.now(UTC),
                          ttl=timedelta(minutes=5))  # fmt: skip

    async def destination(self, contact_id: str) -> Destination:
        try:
            response = await self.http.get(
                f"{self.intake_url}/v1/contacts/{contact_id}/caller",
                params={"reason": "caring-contact"},
                headers={"Authorization": f"Bearer {self._token()}"},
            )
        except httpx.HTTPError as exc:
            raise SendError(f"intake unreachable ({type(exc).__name__})", permanent=False) from exc
        if response.status_code == 404:
            return Destination(number=None, email=None)
        if not response.is_success:
            raise SendError(f"intake answered {response.status_code}", permanent=False)
        body = response.json()
        return Destination(number=body.get("caller_number"), email=body.get("email"))
