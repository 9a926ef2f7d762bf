"""Twilio TaskRouter event callbacks: the real-time answer on Twilio (reference/telephony.md).

`<Enqueue>` reports `bridged` only after the call ends, so a contact center on Twilio routes
with TaskRouter, whose workspace posts its events (form-encoded, signed with the account's
auth token like voice webhooks) to POST /v1/telephony/twilio-taskrouter/{center_id}:

- task.created: the call's task entered a queue → queued;
- reservation.accepted: a counselor (WorkerName, else WorkerSid) took it → answered, while
  the caller is on the line, so the session opens now;
- task.canceled: the task left the queue unanswered (the caller hung up) → abandoned;
- task.wrapup: the call ended and the counselor is in after-contact work → ended;
- task.completed: after-contact work done (no milestone; handle time runs to it).

`TaskAttributes` is a JSON string carrying the voice call's `call_sid`: the contact is the
same as the voice callbacks' (provider twilio, the call SID), so the state machine merges
both streams, in any order and however often they arrive.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

from hotline_shared.events import Channel, Provider

from hotline_intake.adapters.telephony.twilio import TwilioPayloadError
from hotline_intake.domain.contact import Milestone, Observation

MILESTONES = {
    "task.created": Milestone.QUEUED,
    "reservation.accepted": Milestone.ANSWERED,
    "task.canceled": Milestone.ABANDONED,
    "task.wrapup": Milestone.ENDED,
}


def parse(form: Mapping[str, str], *, received_at: datetime) -> Observation | None:
    """One TaskRouter event → an observation; None for events (and tasks) we do not track."""
    event_type = form.get("EventType", "").strip()
    if not event_type:
        raise TwilioPayloadError("EventType", "EventType is required")
    milestone = MILESTONES.get(event_type)
    if milestone is None and event_type != "task.completed":
        return None
    call_sid = _call_sid(form.get("TaskAttributes", ""))
    if call_sid is None:
        return None  # not a voice task (a chat or a callback task): no call to merge with
    occurred = _timestamp(form.get("Timestamp"), received_at)
    key = form.get("Sid") or f"{event_type}:{form.get('ResourceSid') or form.get('TaskSid', '')}"
    if milestone is None:  # task.completed: after-contact work done (handle time)
        return Observation(provider=Provider.TWILIO, provider_contact_id=call_sid,
                           key=f"taskrouter:{key}", occurred_at=occurred, channel=Channel.VOICE,
                           after_work_ended_at=occurred)  # fmt: skip
    counselor = (form.get("WorkerName") or form.get("WorkerSid") or "").strip() or None
    return Observation(
        provider=Provider.TWILIO, provider_contact_id=call_sid, key=f"taskrouter:{key}",
        occurred_at=occurred, channel=Channel.VOICE, times={milestone: occurred},
        counselor_id=counselor if milestone is Milestone.ANSWERED else None,
    )  # fmt: skip


def _call_sid(raw: str) -> str | None:
    try:
        attributes = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise TwilioPayloadError("TaskAttributes", "TaskAttributes is not JSON") from exc
    if not isinstance(attributes, dict):
        raise TwilioPayloadError("TaskAttributes", "TaskAttributes must be a JSON object")
    sid = attributes.get("call_sid")
    return sid.strip() if isinstance(sid, str) and sid.strip() else None


def _timestamp(raw: str | None, fallback: datetime) -> datetime:
    if not raw:
        return fallback
    try:
        return datetime.fromtimestamp(float(raw), tz=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise TwilioPayloadError("Timestamp", "Timestamp is not epoch seconds") from exc
