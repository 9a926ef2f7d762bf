"""Amazon Connect contact events, as EventBridge delivers them (reference/telephony.md).

AWS sends events unordered and best-effort, adds fields over time and varies key casing,
so keys are matched case-insensitively and unknown fields are ignored, never rejected.
Abandonment: a contact that was QUEUED and then DISCONNECTED with no
agentInfo.connectedToAgentTimestamp left the queue before any counselor answered.
Contact events carry no caller number: a Connect caller is reachable only when the contact
flow sets the attribute `HotlineCallerNumber`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hotline_shared.clock import ensure_utc
from hotline_shared.events import Channel, Provider

from hotline_intake.domain.contact import Milestone, Observation

DETAIL_TYPE = "amazon connect contact event"
CALLER_ATTRIBUTE = "hotlinecallernumber"
CHANNELS = {"voice": Channel.VOICE, "chat": Channel.CHAT}


class ConnectPayloadError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


# disconnectReason values that mean the system, not the caller, ended a queued contact
FAILURE_REASONS = frozenset({"TELECOM_PROBLEM"})


def parse(body: Any, *, received_at: datetime) -> Observation | None:
    """An EventBridge envelope → an observation; None for events that say nothing we track."""
    if not isinstance(body, dict):
        raise ConnectPayloadError("body", "expected a JSON object")
    event = lower_keys(body)
    if str(event.get("detail-type", "")).lower() != DETAIL_TYPE:
        raise ConnectPayloadError("detail-type", "not an Amazon Connect Contact Event")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise ConnectPayloadError("detail", "detail must be an object")
    contact_id = _text(detail, "contactid")
    event_type = _text(detail, "eventtype").upper()
    event_id = _text(event, "id")
    occurred = _time(event.get("time"), "time") or received_at
    queue, agent = _object(detail, "queueinfo"), _object(detail, "agentinfo")
    queued_at = _time(queue.get("enqueuetimestamp"), "detail.queueInfo.enqueueTimestamp")
    answered_at = _time(agent.get("connectedtoagenttimestamp"),
                        "detail.agentInfo.connectedToAgentTimestamp")  # fmt: skip
    times: dict[Milestone, datetime] = {}
    started = _time(detail.get("initiationtimestamp"), "detail.initiationTimestamp")
    if started:
        times[Milestone.STARTED] = started
    if queued_at:
        times[Milestone.QUEUED] = queued_at
    if answered_at:
        times[Milestone.ANSWERED] = answered_at
    final = False
    match event_type:
        case "INITIATED" | "CONNECTED_TO_SYSTEM":
            times.setdefault(Milestone.STARTED, occurred)
        case "QUEUED":
            times.setdefault(Milestone.QUEUED, occurred)
        case "CONNECTED_TO_AGENT":
            times.setdefault(Milestone.ANSWERED, occurred)
        case "DISCONNECTED" | "COMPLETED":
            ended = _time(detail.get("disconnecttimestamp"), "detail.disconnectTimestamp")
            times[Milestone.ENDED] = ended or occurred
            failure = str(detail.get("disconnectreason", "")).upper()
            if queued_at and not answered_at and failure in FAILURE_REASONS:
                times[Milestone.FAILED] = times[Milestone.ENDED]  # the line failed the caller
            elif queued_at and not answered_at:
                times[Milestone.ABANDONED] = times[Milestone.ENDED]
            final = True
        case _:
            if not times:
                return None
    attributes = _object(detail, "attributes")
    number = attributes.get(CALLER_ATTRIBUTE)
    return Observation(
        provider=Provider.AMAZON_CONNECT,
        provider_contact_id=contact_id,
        key=f"event:{event_id}",
        occurred_at=occurred,
        channel=CHANNELS.get(str(detail.get("channel", "voice")).lower(), Channel.OTHER),
        times=times,
        outcome_final=final,
        caller_number=number if isinstance(number, str) and number else None,
        counselor_id=agent.get("agentarn") if isinstance(agent.get("agentarn"), str) else None,
        failure=f"connect-{str(detail.get('disconnectreason')).lower()}"
        if Milestone.FAILED in times
        else None,
        after_work_ended_at=_time(
            agent.get("aftercontactworkendtimestamp"),
            "detail.agentInfo.afterContactWorkEndTimestamp",
        ),
    )


def _object(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConnectPayloadError(key, f"{key} is required")
    return value.strip()


def _time(raw: Any, field: str) -> datetime | None:
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raise ConnectPayloadError(field, f"{field} must be an ISO 8601 timestamp")
    try:
        when: datetime = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return ensure_utc(when)
    except ValueError as exc:
        raise ConnectPayloadError(field, f"{field} must be an ISO 8601 timestamp") from exc
