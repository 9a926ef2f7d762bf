"""Twilio Voice: status callbacks and <Enqueue action> queue results (reference/telephony.md).

Abandonment: the parent call's CallStatus never says whether a counselor answered
("in-progress" only means Twilio's application picked up). The <Enqueue action> callback
does: QueueResult=hangup is a caller who gave up in the queue (abandoned); bridged is a
counselor who took the call (answered after QueueTime seconds in queue).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from hotline_shared.clock import ensure_utc
from hotline_shared.events import Channel, Provider

from hotline_intake.domain.contact import Milestone, Observation

# Twilio's stand-ins for a caller ID it cannot give: anonymous, unknown, restricted, blocked.
WITHHELD = frozenset({"", "anonymous", "unknown", "restricted", "private", "+266696687",
                      "+86282452253", "+7378742833", "+2562533", "+8656696"})  # fmt: skip
STARTED_STATUSES = frozenset({"queued", "initiated", "ringing"})
NEVER_CONNECTED = frozenset({"busy", "failed", "no-answer", "canceled"})
TRANSFER_RESULTS = frozenset({"redirected", "redirected-from-bridged", "leave"})


class TwilioPayloadError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse(form: Mapping[str, str], *, received_at: datetime) -> Observation | None:
    """One callback → an observation; None for legs that are not an inbound contact."""
    call_sid = _required(form, "CallSid")
    if form.get("ParentCallSid") or form.get("Direction", "inbound") != "inbound":
        return None  # counselor legs and outbound follow-up calls are not new contacts
    occurred = _timestamp(form.get("Timestamp"), received_at)
    caller = form.get("From", "").strip()
    withheld = caller.lower() in WITHHELD
    common: dict[str, Any] = {
        "provider": Provider.TWILIO,
        "provider_contact_id": call_sid,
        "channel": Channel.VOICE,
        "caller_number": None if withheld else caller,
        "caller_withheld": withheld,
    }
    if "QueueResult" in form:
        return _queue_result(form, occurred, common)
    status = _required(form, "CallStatus")
    seq = form.get("SequenceNumber", status)
    key = f"status:{seq}:{status}"
    if status in STARTED_STATUSES:
        return Observation(
            key=key, occurred_at=occurred, times={Milestone.STARTED: occurred}, **common
        )
    if status == "in-progress":
        # The application picked up; the hotline's TwiML enqueues the caller at once.
        return Observation(
            key=key, occurred_at=occurred, times={Milestone.QUEUED: occurred}, **common
        )
    if status == "completed":
        return Observation(
            key=key, occurred_at=occurred, times={Milestone.ENDED: occurred}, **common
        )
    if status in NEVER_CONNECTED:
        return Observation(key=key, occurred_at=occurred, times={Milestone.ENDED: occurred},
                           outcome_final=True, **common)  # fmt: skip
    raise TwilioPayloadError("CallStatus", f"unknown CallStatus {status!r}")


FAILURE_RESULTS = frozenset({"queue-full", "error", "system-error"})


def _queue_result(
    form: Mapping[str, str], occurred: datetime, common: dict[str, Any]
) -> Observation:
    result = form["QueueResult"]
    try:
        wait = float(form.get("QueueTime", "0") or 0)
    except ValueError as exc:
        raise TwilioPayloadError("QueueTime", "QueueTime is not a number") from exc
    if wait < 0:
        raise TwilioPayloadError("QueueTime", "QueueTime is negative")
    key = f"queue:{form.get('QueueSid', '')}:{result}"
    if result in ("bridged", "bridging-in-process"):
        return Observation(
            key=key, occurred_at=occurred, queue_wait_seconds=wait, bridged=True, **common
        )
    if result == "hangup":
        return Observation(key=key, occurred_at=occurred, queue_wait_seconds=wait,
                           times={Milestone.ABANDONED: occurred}, **common)  # fmt: skip
    if result in TRANSFER_RESULTS:
        bridged = result == "redirected-from-bridged"
        return Observation(key=key, occurred_at=occurred, queue_wait_seconds=wait, bridged=bridged,
                           times={Milestone.TRANSFERRED: occurred}, **common)  # fmt: skip
    if result in FAILURE_RESULTS:
        # the caller never reached a counselor through no choice of theirs: failed, not
        # abandoned (no callback), counted apart
        return Observation(key=key, occurred_at=occurred, times={Milestone.FAILED: occurred},
                           failure=result, outcome_final=True, **common)  # fmt: skip
    # leave, redirected: the application took the caller out of the queue on purpose
    return Observation(key=key, occurred_at=occurred, times={Milestone.ENDED: occurred},
                       outcome_final=True, **common)  # fmt: skip


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise TwilioPayloadError(name, f"{name} is required")
    return value


def _timestamp(raw: str | None, fallback: datetime) -> datetime:
    if not raw:
        return fallback
    try:
        when: datetime = parsedate_to_datetime(raw)
        return ensure_utc(when)
    except (TypeError, ValueError) as exc:
        raise TwilioPayloadError("Timestamp", "Timestamp is not an RFC 2822 date") from exc
