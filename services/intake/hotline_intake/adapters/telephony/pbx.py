"""The normalized JSON that PBX bridges post, its signature, and pure mappers from
Asterisk ARI / AMI, FreeSWITCH ESL and Genesys Cloud events onto it.

A small forwarder next to a PBX maps each native event with the function here and posts
the result to POST /v1/telephony/events/{center_id}, signed:
`X-Hotline-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (5-minute window).

Abandonment: Genesys says it (acd.end acdOutcome=ABANDON, unless disconnectType=system or
error: then the contact failed); Asterisk app_queue says it (AMI QueueCallerAbandon); a
bridge may post an explicit `failed` with its reason. For ARI and ESL, which have no queue semantics of their own, the
contact state machine infers it: queued, ended, never answered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from hotline_shared import webhooks
from hotline_shared.events import Channel, Provider
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hotline_intake.domain.contact import Milestone, Observation


class PbxEvent(BaseModel):
    """One normalized call event from a PBX bridge."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: str = Field(min_length=1, max_length=200)
    call_id: str = Field(min_length=1, max_length=200)
    provider: Literal["asterisk", "freeswitch", "genesys", "other"]
    kind: Milestone
    occurred_at: AwareDatetime
    channel: Channel = Channel.VOICE
    caller_number: str | None = Field(default=None, max_length=32)
    caller_withheld: bool = False
    counselor_id: str | None = Field(default=None, max_length=200)
    to_center_id: str | None = Field(default=None, max_length=64)
    answered: bool | None = Field(
        default=None, description="on `ended`: whether a counselor ever answered, if known"
    )
    failure: str | None = Field(
        default=None, max_length=64, description="on `failed`: why (e.g. queue-full, error)"
    )

    def observation(self) -> Observation:
        return Observation(
            provider=Provider(self.provider),
            provider_contact_id=self.call_id,
            key=f"event:{self.event_id}",
            occurred_at=self.occurred_at,
            channel=self.channel,
            times={self.kind: self.occurred_at},
            outcome_final=self.kind == Milestone.ENDED and self.answered is not None,
            caller_number=self.caller_number or None,
            caller_withheld=self.caller_withheld,
            counselor_id=self.counselor_id,
            to_center_id=self.to_center_id,
            failure=(self.failure or "pbx-failure") if self.kind is Milestone.FAILED else None,
        )


# ---- signature: the shared scheme (hotline_shared.webhooks) -----------------------------

sign, verify = webhooks.sign, webhooks.verify


# ---- native event mappers ----------------------------------------------------------------


def _event(provider: str, event_id: str, call_id: str, kind: Milestone, when: datetime,
           **extra: Any) -> PbxEvent:  # fmt: skip
    return PbxEvent(provider=provider, event_id=event_id, call_id=call_id, kind=kind,
                    occurred_at=when, **extra)  # fmt: skip


def _iso(raw: str) -> datetime:
    when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def from_ari(event: dict[str, Any]) -> PbxEvent | None:
    """Asterisk ARI (Stasis application) event → normalized; None if not a milestone."""
    channel = event.get("channel") or {}
    call_id, when = channel.get("id"), _iso(event["timestamp"])
    number = (channel.get("caller") or {}).get("number") or None
    kinds = {
        "StasisStart": Milestone.STARTED,
        "ChannelEnteredBridge": Milestone.ANSWERED,
        "ChannelDestroyed": Milestone.ENDED,
    }
    kind = kinds.get(event.get("type", ""))
    if kind is None or not call_id:
        return None
    if kind is Milestone.STARTED and "queue" in (event.get("args") or []):
        kind = Milestone.QUEUED  # the dialplan hands callers to the app's queue
    return _event("asterisk", f"{event['type']}:{call_id}", call_id, kind, when,
                  caller_number=number if kind in (Milestone.STARTED, Milestone.QUEUED) else None)  # fmt: skip


AMI_KINDS = {
    "Newchannel": Milestone.STARTED,
    "QueueCallerJoin": Milestone.QUEUED,
    "AgentConnect": Milestone.ANSWERED,
    "QueueCallerAbandon": Milestone.ABANDONED,
    "BlindTransfer": Milestone.TRANSFERRED,
    "AttendedTransfer": Milestone.TRANSFERRED,
    "Hangup": Milestone.ENDED,
}


def from_ami(event: dict[str, str], *, received_at: datetime) -> PbxEvent | None:
    """Asterisk AMI event (app_queue) → normalized. AMI carries no timestamp by default."""
    kind = AMI_KINDS.get(event.get("Event", ""))
    call_id = event.get("Linkedid") or event.get("Uniqueid")
    if kind is None or not call_id:
        return None
    number = event.get("CallerIDNum") if kind is Milestone.STARTED else None
    withheld = number in ("<unknown>", "anonymous", "")
    return _event("asterisk", f"{event['Event']}:{event.get('Uniqueid', call_id)}", call_id, kind,
                  received_at, caller_number=None if withheld else number,
                  caller_withheld=bool(withheld and kind is Milestone.STARTED))  # fmt: skip


ESL_KINDS = {
    "CHANNEL_CREATE": Milestone.STARTED,
    "CHANNEL_ANSWER": Milestone.QUEUED,  # the IVR picked up and queued the caller
    "CHANNEL_BRIDGE": Milestone.ANSWERED,  # bridged to a counselor
    "CHANNEL_HANGUP_COMPLETE": Milestone.ENDED,
}


def from_esl(headers: dict[str, str]) -> PbxEvent | None:
    """FreeSWITCH ESL event headers → normalized (µs timestamps)."""
    kind = ESL_KINDS.get(headers.get("Event-Name", ""))
    call_id = headers.get("Unique-ID")
    if kind is None or not call_id:
        return None
    when = datetime.fromtimestamp(int(headers["Event-Date-Timestamp"]) / 1_000_000, tz=UTC)
    seq = headers.get("Event-Sequence", headers["Event-Name"])
    number = headers.get("Caller-Caller-ID-Number") if kind is Milestone.STARTED else None
    return _event("freeswitch", f"{seq}:{headers['Event-Name']}", call_id, kind, when,
                  caller_number=number or None)  # fmt: skip


# The system, not the caller, ended a queued conversation: failed, not abandoned.
GENESYS_FAILURES = frozenset({"system", "error"})
GENESYS_OUTCOMES = {"ANSWERED": Milestone.ANSWERED, "ABANDON": Milestone.ABANDONED,
                    "FLOW_OUT": Milestone.TRANSFERRED}  # fmt: skip


def from_genesys(topic: str, body: dict[str, Any]) -> PbxEvent | None:
    """Genesys Cloud v2.detail.events.conversation.{id}.<part> → normalized."""
    part = topic.rsplit(".", 2)
    suffix = ".".join(part[-2:])
    call_id = body.get("conversationId")
    when = _iso(body["eventTime"])
    kind = {"customer.start": Milestone.STARTED, "acd.start": Milestone.QUEUED,
            "customer.end": Milestone.ENDED}.get(suffix)  # fmt: skip
    failure = None
    if suffix == "acd.end":
        kind = GENESYS_OUTCOMES.get(body.get("acdOutcome", ""))
        if kind is Milestone.ABANDONED and body.get("disconnectType") in GENESYS_FAILURES:
            kind, failure = Milestone.FAILED, f"genesys-{body['disconnectType']}"
    if kind is None or not call_id:
        return None
    channel = Channel.VOICE if body.get("mediaType") == "VOICE" else Channel.CHAT
    number = body.get("ani") if kind is Milestone.STARTED else None
    return _event("genesys", f"{suffix}:{body.get('participantId', '')}:{call_id}", call_id, kind,
                  when, channel=channel, caller_number=(number or "").removeprefix("tel:") or None,
                  counselor_id=body.get("answeredUserId"), failure=failure)  # fmt: skip
