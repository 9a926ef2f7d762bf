"""Telephony webhooks: verify, parse, hand the observation to the service layer."""

import hmac
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import APIKeyHeader
from hotline_shared import twilio as signatures
from hotline_shared.auth import TWILIO_SIGNATURE
from hotline_shared.centers import Center
from hotline_shared.problems import Problem, problem_responses
from pydantic import BaseModel, Field, ValidationError

from hotline_intake.adapters.telephony import connect, pbx, taskrouter, twilio
from hotline_intake.domain.contact import Observation
from hotline_intake.service_layer import Intake, record_observation

# Each provider's own credential, declared for the API document (checked below, not by these).
CONNECT_API_KEY = APIKeyHeader(name="X-Api-Key", scheme_name="amazonConnectApiKey",
                               auto_error=False, description="the center's Amazon Connect key")  # fmt: skip
HOTLINE_SIGNATURE = APIKeyHeader(
    name="X-Hotline-Signature", scheme_name="hotlineSignature", auto_error=False,
    description='PBX bridges: "t=<unix>,v1=<hex HMAC-SHA256 of t.body>" with the center\'s '
    "webhook secret, 5-minute window",
)  # fmt: skip
# Not a bearer route: bad payload (400), bad signature or key (403), unknown center (404),
# over 64 KiB (413), invalid event (422), and the server's own trouble (500, 503).
WEBHOOK_PROBLEMS = problem_responses(400, 403, 404, 413, 422, 500, 503)


class WebhookAccepted(BaseModel):
    accepted: bool
    effects: list[str] = Field(description="the events the observation produced")


def build_router(get_intake: Callable[[], Intake], public_url: str | None) -> APIRouter:
    """Bodies are bounded before any of this runs (hotline_shared.guard: 64 KiB)."""
    router = APIRouter(prefix="/v1/telephony", tags=["telephony"], responses=WEBHOOK_PROBLEMS)

    def center_of(center_id: str) -> Center:
        center = get_intake().centers.get(center_id)
        if center is None:
            raise Problem(404, "Unknown center", field="center_id")
        return center

    CenterDep = Annotated[Center, Depends(center_of)]

    async def accept(center: Center, obs: Observation | None) -> dict[str, Any]:
        if obs is None:
            return {"accepted": True, "effects": []}
        emitted = await record_observation(get_intake(), center, obs)
        return {"accepted": True, "effects": [str(m) for m in emitted]}

    async def twilio_form(request: Request, center: Center, given: str | None) -> dict[str, str]:
        """A signed Twilio request's form (voice and TaskRouter share the scheme)."""
        url = signatures.public(str(request.url), public_url)
        return signatures.signed_form(await request.body(), token=center.twilio_auth_token,
                                      url=url, given=given)  # fmt: skip

    @router.post("/twilio/{center_id}", response_model=WebhookAccepted)
    async def twilio_callback(
        request: Request, center: CenterDep,
        x_twilio_signature: Annotated[str | None, Security(TWILIO_SIGNATURE)],
    ) -> dict[str, Any]:  # fmt: skip
        form = await twilio_form(request, center, x_twilio_signature)
        try:
            obs = twilio.parse(form, received_at=get_intake().clock.now())
        except twilio.TwilioPayloadError as exc:
            raise Problem(400, "Invalid Twilio callback", detail=str(exc), field=exc.field) from exc
        return await accept(center, obs)

    @router.post("/twilio-taskrouter/{center_id}", response_model=WebhookAccepted)
    async def taskrouter_event(
        request: Request, center: CenterDep,
        x_twilio_signature: Annotated[str | None, Security(TWILIO_SIGNATURE)],
    ) -> dict[str, Any]:  # fmt: skip
        """TaskRouter event callbacks: the real-time answer on Twilio."""
        form = await twilio_form(request, center, x_twilio_signature)
        try:
            obs = taskrouter.parse(form, received_at=get_intake().clock.now())
        except twilio.TwilioPayloadError as exc:
            raise Problem(
                400, "Invalid TaskRouter event", detail=str(exc), field=exc.field
            ) from exc
        return await accept(center, obs)

    @router.post("/amazon-connect/{center_id}", response_model=WebhookAccepted)
    async def connect_event(
        request: Request, center: CenterDep,
        x_api_key: Annotated[str | None, Security(CONNECT_API_KEY)],
    ) -> dict[str, Any]:  # fmt: skip
        key = center.amazon_connect_api_key
        if key is None or not x_api_key or not _equal(key.get_secret_value(), x_api_key):
            raise Problem(403, "Invalid API key", field="X-Api-Key")
        body = _json(await request.body())
        try:
            obs = connect.parse(body, received_at=get_intake().clock.now())
        except connect.ConnectPayloadError as exc:
            raise Problem(
                400, "Invalid Amazon Connect event", detail=str(exc), field=exc.field
            ) from exc
        return await accept(center, obs)

    @router.post("/events/{center_id}", response_model=WebhookAccepted)
    async def normalized_event(
        request: Request, center: CenterDep,
        x_hotline_signature: Annotated[str | None, Security(HOTLINE_SIGNATURE)],
    ) -> dict[str, Any]:  # fmt: skip
        body = await request.body()
        secret = center.webhook_secret
        if (
            secret is None
            or not x_hotline_signature
            or not pbx.verify(
                secret.get_secret_value(), body, x_hotline_signature, now=get_intake().clock.now()
            )
        ):
            raise Problem(403, "Invalid or expired signature", field="X-Hotline-Signature")
        try:
            event = pbx.PbxEvent.model_validate(_json(body))
        except ValidationError as exc:
            field = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "body"
            raise Problem(
                422, "Invalid call event", detail=f"invalid field: {field}", field=field
            ) from exc
        return await accept(center, event.observation())

    return router


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Problem(400, "Malformed JSON body", field="body") from exc


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
