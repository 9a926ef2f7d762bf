"""Caring Contacts: one series of brief messages per consenting caller (reference/clinical.md,
Motto & Bostrom), sent, not phoned, on the cadence. Pure: time is a parameter.

A message goes pending → sending (claimed by one replica for a while) → sent → delivered /
undelivered; a transient send failure puts it back to pending with a backoff until its
window is gone (then failed); a message with no destination (no number or email on record,
or the center has no channel) is skipped. A message nobody answers is normal: no alert, no
"missed". Opt-out (a STOP reply, or a worker's action) cancels every message not yet sent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class SeriesStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"  # every message sent, skipped or failed
    OPTED_OUT = "opted-out"


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"  # the provider reported it could not deliver
    FAILED = "failed"  # could not be handed to the provider within its window
    SKIPPED = "skipped"  # no destination or no channel
    CANCELLED = "cancelled"  # opted out before it went


OPEN = frozenset({MessageStatus.PENDING, MessageStatus.SENDING})
HANDED_OVER = frozenset({MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNDELIVERED})
MAX_BACKOFF = timedelta(minutes=30)

# Twilio's delivery states (StatusCallback MessageStatus) that settle a sent message.
DELIVERY_STATES = {
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.UNDELIVERED,
}
# Replies that opt out (Twilio's standard opt-out keywords).
STOP_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"}
)


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


@dataclass(frozen=True)
class Message:
    index: int
    send_at: datetime
    status: MessageStatus = MessageStatus.PENDING
    next_try_at: datetime | None = None  # pending: when to try; sending: when the claim ends
    tries: int = 0
    channel: Channel | None = None
    provider_id: str | None = None
    sent_at: datetime | None = None
    reason: str | None = None  # why skipped or failed (never the destination)


@dataclass(frozen=True)
class Series:
    id: str
    contact_id: str
    center_id: str
    session_id: str
    caller_token: str | None
    channel: Channel
    created_at: datetime
    window: timedelta  # a message not handed over this long after its time is failed
    messages: tuple[Message, ...]
    policy_version: str
    status: SeriesStatus = SeriesStatus.ACTIVE
    opted_out_by: str | None = None
    opted_out_at: datetime | None = None
    texted_tokens: tuple[str, ...] = ()  # caller tokens of the numbers messages went to

    @property
    def tokens(self) -> frozenset[str]:
        """Every caller token a STOP for this series may come from."""
        return frozenset({*self.texted_tokens, *([self.caller_token] if self.caller_token else [])})


def channel_for(requested: str | None) -> Channel:
    """The consent's channel; SMS unless email was asked for (phone and letter are not sent
    automatically: their messages are texted to the number on record)."""
    return Channel.EMAIL if requested == "email" else Channel.SMS


@dataclass(frozen=True)
class SeriesSpec:
    """A caring-contacts series to start; `id` derived from the session, as tasks are."""

    id: str
    contact_id: str
    center_id: str
    session_id: str
    caller_token: str | None
    channel: Channel
    closed_at: datetime
    offsets: list[timedelta]
    window: timedelta
    policy_version: str


def new_series(spec: SeriesSpec) -> Series:
    messages = tuple(
        Message(index=i, send_at=spec.closed_at + offset, next_try_at=spec.closed_at + offset)
        for i, offset in enumerate(spec.offsets)
    )
    return Series(id=spec.id, contact_id=spec.contact_id, center_id=spec.center_id,
                  session_id=spec.session_id, caller_token=spec.caller_token, channel=spec.channel,
                  created_at=spec.closed_at, window=spec.window, messages=messages,
                  policy_version=spec.policy_version)  # fmt: skip


def next_fire_at(series: Series) -> datetime | None:
    """When a message of this series must next be looked at (None: nothing left to send)."""
    times = [m.next_try_at for m in series.messages if m.status in OPEN and m.next_try_at]
    return min(times) if times else None


def due_message(series: Series, now: datetime) -> Message | None:
    """The message to send now: pending and due, or sending with an expired claim (the
    replica that claimed it died; sending again may repeat a message, never lose one)."""
    if series.status is not SeriesStatus.ACTIVE:
        return None
    for message in series.messages:
        if message.status in OPEN and message.next_try_at and message.next_try_at <= now:
            return message
    return None


def expire(series: Series, *, now: datetime) -> Series:
    """Messages whose window passed before they could go (an outage, a stopped service) are
    failed, not sent late in a burst."""
    late = [m.index for m in series.messages
            if m.status is MessageStatus.PENDING and now >= m.send_at + series.window]  # fmt: skip
    for index in late:
        series = _change(series, index, status=MessageStatus.FAILED, reason="window passed",
                         next_try_at=None)  # fmt: skip
    return _settle(series) if late else series


def texted(series: Series, token: str) -> Series:
    """Remember the caller token of a number a message went to (it may differ from the one
    the contact came with: a callback number recorded later)."""
    if token in series.tokens:
        return series
    return replace(series, texted_tokens=(*series.texted_tokens, token))


def begin_send(series: Series, index: int, *, now: datetime, claim: timedelta) -> Series:
    """Claim a message for one send; others leave it alone until the claim ends."""
    return _change(series, index, status=MessageStatus.SENDING, next_try_at=now + claim,
                   tries=series.messages[index].tries + 1)  # fmt: skip


def sent(
    series: Series, index: int, *, channel: Channel, provider_id: str, now: datetime
) -> Series:
    message = series.messages[index]
    if message.status in HANDED_OVER:
        return series  # recorded already
    return _settle(_change(series, index, status=MessageStatus.SENT, channel=channel,
                           provider_id=provider_id, sent_at=now, next_try_at=None))  # fmt: skip


def send_failed(
    series: Series, index: int, *, now: datetime, permanent: bool, reason: str
) -> Series:
    """A transient failure tries again with backoff while the message's window lasts."""
    message = series.messages[index]
    if message.status is not MessageStatus.SENDING:
        return series
    gone = now >= message.send_at + series.window
    if permanent or gone:
        return _settle(_change(series, index, status=MessageStatus.FAILED, reason=reason,
                               next_try_at=None))  # fmt: skip
    backoff = min(timedelta(seconds=2**message.tries), MAX_BACKOFF)
    return _change(series, index, status=MessageStatus.PENDING, reason=reason,
                   next_try_at=min(now + backoff, message.send_at + series.window))  # fmt: skip


def skipped(series: Series, index: int, *, reason: str) -> Series:
    if series.messages[index].status not in OPEN:
        return series
    return _settle(_change(series, index, status=MessageStatus.SKIPPED, reason=reason,
                           next_try_at=None))  # fmt: skip


def delivery_reported(series: Series, provider_id: str, state: str) -> Series:
    """The provider's report on a sent message (StatusCallback); other states change nothing."""
    settled = DELIVERY_STATES.get(state)
    for message in series.messages:
        if message.provider_id == provider_id and settled and message.status in HANDED_OVER:
            return _change(series, message.index, status=settled)
    return series


def opt_out(series: Series, *, by: str, now: datetime) -> Series:
    """Stop the series: every message not yet handed over is cancelled (one being sent at
    this moment may still go out). Opting out twice changes nothing."""
    if series.status is SeriesStatus.OPTED_OUT:
        return series
    messages = tuple(
        replace(m, status=MessageStatus.CANCELLED, next_try_at=None) if m.status in OPEN else m
        for m in series.messages
    )
    return replace(series, messages=messages, status=SeriesStatus.OPTED_OUT, opted_out_by=by,
                   opted_out_at=now)  # fmt: skip


def is_stop_reply(body: str) -> bool:
    return body.strip().strip(".!").lower() in STOP_WORDS


def _change(series: Series, index: int, **fields: object) -> Series:
    messages = list(series.messages)
    messages[index] = replace(messages[index], **fields)  # type: ignore[arg-type]
    return replace(series, messages=tuple(messages))


def _settle(series: Series) -> Series:
    """The series completes once nothing is left to send."""
    if series.status is SeriesStatus.ACTIVE and not any(m.status in OPEN for m in series.messages):
        return replace(series, status=SeriesStatus.COMPLETED)
    return series
