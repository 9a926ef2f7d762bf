"""Caring Contacts use cases: start a series at close, send its due messages (one replica per
message), take the provider's delivery reports, and stop a series on a STOP reply or a
worker's action. Unanswered messages are normal: nothing here alerts or counts "missed"."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from hotline_shared.auth import Principal
from hotline_shared.centers import DEFAULT_CARING_MESSAGE, Center, Centers
from hotline_shared.clock import Clock
from hotline_shared.crypto import caller_token
from hotline_shared.events import (
    Envelope,
    FollowupCaringReply,
    FollowupCaringReplyData,
    FollowupCompleted,
    FollowupCompletedData,
    FollowupData,
    FollowupKind,
    FollowupScheduled,
    FollowupScheduledData,
    new_event,
)  # fmt: skip
from hotline_shared.mongo import Document, Outbox, retry_on_conflict
from hotline_shared.problems import Problem
from pymongo.asynchronous.database import AsyncDatabase

from hotline_followup.adapters.caring import COLLECTION, OptOuts, SeriesStore, to_series
from hotline_followup.adapters.messaging import (
    IntakeDirectory,
    NoDestination,
    SendError,
    SmtpMail,
    TwilioMessages,
)
from hotline_followup.domain.caring import (
    Channel,
    Message,
    Series,
    SeriesSpec,
    SeriesStatus,
    begin_send,
    delivery_reported,
    due_message,
    expire,
    is_stop_reply,
    new_series,
    opt_out,
    send_failed,
    sent,
    skipped,
    texted,
)  # fmt: skip

log = structlog.get_logger(__name__)
SOURCE = "hotline/followup"
CALLER_REPLY = "caller-reply"


@dataclass
class Messenger:
    sms: TwilioMessages
    mail: SmtpMail
    directory: IntakeDirectory
    public_url: str | None  # where Twilio reaches this service (StatusCallback)
    claim: timedelta = timedelta(minutes=2)  # a replica sending a message holds it this long


@dataclass
class Caring:
    db: AsyncDatabase[Document]
    publish: Callable[[Envelope], Awaitable[None]]
    prepare: Callable[[Sequence[Envelope]], Awaitable[None]]  # the supervisors' alert queue
    clock: Clock
    centers: Centers
    messenger: Messenger

    @property
    def series(self) -> SeriesStore:
        return SeriesStore(self.db[COLLECTION])

    @property
    def opt_outs(self) -> OptOuts:
        return OptOuts(self.db)

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.db[COLLECTION], self.publish, prepare=self.prepare)


# ---- start ---------------------------------------------------------------------------------


async def start_series(c: Caring, spec: SeriesSpec) -> None:
    """A consenting caller's series; a STOP that arrived before it (the close still on its
    way) stops it at once. A replayed close starts nothing new."""
    series = new_series(spec)
    series = await _stopped_if_opted_out(c, series)
    first = series.messages[0]
    data = FollowupScheduledData(contact_id=series.contact_id, followup_id=series.id,
                                 kind=FollowupKind.CARING_CONTACT, due_at=first.send_at,
                                 deadline_at=first.send_at + series.window, attempt_no=1,
                                 policy_version=series.policy_version)  # fmt: skip
    now = c.clock.now()
    event = _event(FollowupScheduled, data, series, now, "scheduled")
    await c.series.create(series, events=[event], now=now)
    await c.outbox.flush(series.id)


async def _stopped_if_opted_out(c: Caring, series: Series) -> Series:
    """Stopped when any number of this series said STOP after the series began."""
    for token in series.tokens:
        since = await c.opt_outs.since(series.center_id, token)
        if since is not None and since >= series.created_at:
            return opt_out(series, by=CALLER_REPLY, now=since)
    return series


class _OptedOut(Exception):
    """The number about to be texted said STOP after the series began."""


# ---- change, with the events a change causes -----------------------------------------------

Change = Callable[[Series], Series]


async def change_series(
    c: Caring, series_id: str, change: Change, *, check: Callable[[Document], None] | None = None
) -> Document | None:
    """Read, change, write if nobody wrote meanwhile (else again). None: no such series."""

    async def attempt() -> bool | None:
        doc = await c.series.get(series_id)
        if doc is None:
            return False
        if check is not None:
            check(doc)
        before = to_series(doc)
        after = change(before)
        if after == before:
            return True
        now = c.clock.now()
        events = []
        if before.status is SeriesStatus.ACTIVE and after.status is SeriesStatus.COMPLETED:
            data = FollowupCompletedData(contact_id=after.contact_id, followup_id=after.id,
                                         kind=FollowupKind.CARING_CONTACT, completed_at=now)  # fmt: skip
            events.append(_event(FollowupCompleted, data, after, now, "completed"))
        saved = await c.series.save(after, version=doc["version"], events=events, now=now)
        return True if saved else None

    if await retry_on_conflict(attempt, what="caring series") is False:
        return None
    await c.outbox.flush(series_id)
    return await c.series.get(series_id)


def _event(
    cls: type[Envelope], data: FollowupData, series: Series, now: datetime, *cause: str
) -> Envelope:
    return new_event(cls, data=data, center_id=series.center_id, source=SOURCE, time=now,
                     cause=(series.id, *cause))  # fmt: skip


# ---- sending -------------------------------------------------------------------------------


async def send_due(c: Caring, *, limit: int = 50) -> int:
    """Send every message that has come due (each claimed by one replica first)."""
    now = c.clock.now()
    handed = 0
    for series_id in await c.series.due(now=now, limit=limit):
        handed += await _send_next(c, series_id, now)
    return handed


async def _send_next(c: Caring, series_id: str, now: datetime) -> int:
    doc = await c.series.get(series_id)
    if doc is None:
        return 0
    series = expire(to_series(doc), now=now)
    message = due_message(series, now)
    if message is None:  # late, stopped or not due after all: store what it really is
        await c.series.save(series, version=doc["version"], events=[], now=now)
        return 0
    claimed = begin_send(series, message.index, now=now, claim=c.messenger.claim)
    if not await c.series.save(claimed, version=doc["version"], events=[], now=now):
        return 0  # another replica took it, or the series changed: the next round sees it
    if (await _stopped_if_opted_out(c, claimed)).status is SeriesStatus.OPTED_OUT:
        await change_series(c, series_id, functools.partial(opt_out, by=CALLER_REPLY, now=now))
        return 0
    try:
        channel, provider_id, token = await _hand_over(c, claimed, message)
    except _OptedOut:
        await change_series(c, series_id, functools.partial(opt_out, by=CALLER_REPLY, now=now))
        return 0
    except NoDestination as exc:
        await change_series(c, series_id, functools.partial(skipped, index=message.index,
                                                            reason=exc.reason))  # fmt: skip
        return 0
    except SendError as exc:
        log.warning("caring.not_sent", series_id=series_id, index=message.index, reason=exc.reason)
        await change_series(c, series_id, functools.partial(
            send_failed, index=message.index, now=c.clock.now(), permanent=exc.permanent,
            reason=exc.reason))  # fmt: skip
        return 0
    except Exception as exc:  # a bug or an answer nobody expected: this try fails, the rest go on
        log.error("caring.send_crashed", series_id=series_id, index=message.index,
                  error=type(exc).__name__)  # fmt: skip
        await change_series(c, series_id, functools.partial(
            send_failed, index=message.index, now=c.clock.now(), permanent=False,
            reason=f"unexpected {type(exc).__name__}"))  # fmt: skip
        return 0
    done = functools.partial(sent, index=message.index, channel=channel, provider_id=provider_id,
                             now=c.clock.now())  # fmt: skip
    await change_series(c, series_id, lambda s: texted(done(s), token) if token else done(s))
    return 1


async def _hand_over(
    c: Caring, series: Series, message: Message
) -> tuple[Channel, str, str | None]:
    """Send one message: its channel, the provider's id for it, and the caller token of the
    number texted. The destination is released by intake (audited) only when the center has
    the channel, just before the send; it is never stored here."""
    center = c.centers.get(series.center_id)
    if center is None:
        raise NoDestination("no such center")
    sms, mail = c.messenger.sms, c.messenger.mail
    if not (mail if series.channel is Channel.EMAIL else sms).configured(center):
        raise NoDestination(f"center has no {series.channel} channel")
    destination = await c.messenger.directory.destination(series.contact_id)
    body = center.messaging.caring_message if center.messaging else DEFAULT_CARING_MESSAGE
    if series.channel is Channel.EMAIL:
        to = _required(destination.email, "no email on record")
        return Channel.EMAIL, await mail.send(center, to=to, body=body), None
    to = _required(destination.number, "no number on record")
    token = caller_token(center.caller_token_pepper.get_secret_value().encode(), to)
    since = await c.opt_outs.since(center.id, token)
    if since is not None and since >= series.created_at:
        raise _OptedOut
    sid = await sms.send(center, to=to, body=body, status_callback=_status_url(c, center))
    return Channel.SMS, sid, token


def _required(value: str | None, reason: str) -> str:
    if not value:
        raise NoDestination(reason)
    return value


def _status_url(c: Caring, center: Center) -> str | None:
    base = c.messenger.public_url
    return f"{base.rstrip('/')}/v1/messaging/twilio/{center.id}/status" if base else None


# ---- what comes back: delivery reports, replies, a worker's stop ---------------------------


async def delivery_status(c: Caring, center: Center, form: dict[str, str]) -> None:
    """Twilio's StatusCallback for a message we sent."""
    message_sid = form.get("MessageSid", "")
    if not message_sid:
        raise Problem(400, "Missing MessageSid", field="MessageSid")
    doc = await c.series.by_provider_id(center.id, message_sid)
    if doc is None:
        return  # not ours (or not recorded yet: Twilio retries, and the state is "sent")
    state = form.get("MessageStatus", "")
    await change_series(c, doc["_id"], lambda s: delivery_reported(s, message_sid, state))


async def inbound_message(c: Caring, center: Center, form: dict[str, str]) -> bool:
    """A reply from a caller. STOP (or Twilio's OptOutType=STOP) opts the caller out of every
    series; any other reply alerts a supervisor (someone reached out). The reply's text and
    number are not stored. True when it opted out."""
    number = form.get("From", "").strip()
    if not number:
        raise Problem(400, "Missing From", field="From")
    token = caller_token(center.caller_token_pepper.get_secret_value().encode(), number)
    now = c.clock.now()
    if not (is_stop_reply(form.get("Body", "")) or form.get("OptOutType", "").upper() == "STOP"):
        await _reply_received(c, center, token, form.get("MessageSid", ""), now)
        return False
    await c.opt_outs.record(center.id, token, at=now, by=CALLER_REPLY)
    for series_id in await c.series.active_for_caller(center.id, token):
        await change_series(c, series_id, functools.partial(opt_out, by=CALLER_REPLY, now=now))
    return True


async def _reply_received(c: Caring, center: Center, token: str, message_sid: str,
                          now: datetime) -> None:  # fmt: skip
    """Someone wrote back: a supervisor alert (through the series' outbox), once per reply."""
    newest = (await c.series.for_caller(center.id, token))[:1]  # the newest series is enough
    for series_id in newest:

        async def attempt(series_id: str = series_id) -> bool | None:
            doc = await c.series.get(series_id)
            if doc is None:
                return False
            series = to_series(doc)
            data = FollowupCaringReplyData(contact_id=series.contact_id, followup_id=series.id,
                                           kind=FollowupKind.CARING_CONTACT, received_at=now)  # fmt: skip
            event = _event(FollowupCaringReply, data, series, now, "reply", message_sid or str(now))
            saved = await c.series.save(series, version=doc["version"], events=[event], now=now)
            return True if saved else None

        await retry_on_conflict(attempt, what="caring series")
        await c.outbox.flush(series_id)


async def stop_series(c: Caring, series_id: str, who: Principal) -> Document:
    """A worker stops the series (the person asked, on a call or otherwise)."""

    def check(doc: Document) -> None:
        who.require_center(doc["center_id"], unknown_series)

    stopped = functools.partial(opt_out, by=who.sub, now=c.clock.now())
    found = await change_series(c, series_id, stopped, check=check)
    if found is None:
        raise unknown_series()
    return found


def unknown_series() -> Problem:
    return Problem(404, "Unknown caring-contacts series", field="series_id")


def series_out(doc: Document) -> Document:
    """A series as the API shows it: no destination, no message text."""
    return {
        "id": doc["_id"], "contact_id": doc["contact_id"], "center_id": doc["center_id"],
        "session_id": doc["session_id"], "channel": doc["channel"], "status": doc["status"],
        "created_at": doc["created_at"], "opted_out_by": doc.get("opted_out_by"),
        "opted_out_at": doc.get("opted_out_at"),
        "messages": [{k: m.get(k) for k in ("index", "send_at", "status", "tries", "sent_at", "reason")}
                     for m in doc["messages"]],
    }  # fmt: skip


async def kpis(c: Caring, center_id: str) -> Document:
    """Caring contacts for the follow-up KPIs: series by status, messages by status."""
    return await c.series.counts(center_id)
