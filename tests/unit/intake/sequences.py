"""Realistic provider call sequences, as each provider's own payloads (shared by tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# ---- Twilio: status callbacks + <Enqueue action> results (form fields) --------------------


def twilio_status(
    sid: str, status: str, seq: int, seconds: float, caller: str = "+12349013030"
) -> dict[str, str]:
    return {
        "CallSid": sid, "AccountSid": "AC123", "From": caller, "To": "+18005551212",
        "CallStatus": status, "Direction": "inbound", "ApiVersion": "2010-04-01",
        "SequenceNumber": str(seq), "Timestamp": format_datetime(at(seconds)),
        "CallbackSource": "call-progress-events",
    }  # fmt: skip


def twilio_queue(sid: str, result: str, wait: int, caller: str = "+12349013030") -> dict[str, str]:
    return {
        "CallSid": sid, "AccountSid": "AC123", "From": caller, "To": "+18005551212",
        "CallStatus": "in-progress", "Direction": "inbound", "QueueResult": result,
        "QueueSid": "QU123", "QueueTime": str(wait),
    }  # fmt: skip


def twilio_answered(sid: str = "CA-answered", caller: str = "+12349013030") -> list[dict[str, str]]:
    return [
        twilio_status(sid, "ringing", 0, 0, caller),
        twilio_status(sid, "in-progress", 1, 2, caller),
        twilio_queue(sid, "bridged", 14, caller),
        twilio_status(sid, "completed", 2, 900, caller),
    ]


def twilio_abandoned(
    sid: str = "CA-abandoned", caller: str = "+12349013030"
) -> list[dict[str, str]]:
    return [
        twilio_status(sid, "in-progress", 0, 0, caller),
        twilio_queue(sid, "hangup", 45, caller),
        twilio_status(sid, "completed", 1, 46, caller),
    ]


def twilio_transferred(sid: str = "CA-transferred") -> list[dict[str, str]]:
    return [
        twilio_status(sid, "in-progress", 0, 0),
        twilio_queue(sid, "redirected", 60),
        twilio_status(sid, "completed", 1, 61),
    ]


# ---- Amazon Connect (EventBridge envelopes) -------------------------------------------------


def connect_event(cid: str, event_type: str, seconds: float, n: int, *, queued: bool = False,
                  agent_at: float | None = None, ended_at: float | None = None) -> dict[str, Any]:  # fmt: skip
    detail: dict[str, Any] = {
        "eventType": event_type, "contactId": cid, "initialContactId": cid, "channel": "VOICE",
        "instanceArn": "arn:aws:connect:us-east-1:111:instance/abc", "initiationMethod": "INBOUND",
        "initiationTimestamp": at(0).isoformat().replace("+00:00", "Z"),
        "someFieldAwsAddsLater": {"x": 1},
    }  # fmt: skip
    if queued:
        detail["queueInfo"] = {"queueArn": "arn:q", "queueType": "STANDARD",
                               "enqueueTimestamp": at(3).isoformat()}  # fmt: skip
    if agent_at is not None:
        # AWS's own samples vary key casing
        detail["AgentInfo"] = {
            "AgentArn": "arn:agent/7",
            "connectedToAgentTimestamp": at(agent_at).isoformat(),
        }
    if ended_at is not None:
        detail["disconnectTimestamp"] = at(ended_at).isoformat()
    return {
        "version": "0", "id": f"evt-{cid}-{n}", "detail-type": "Amazon Connect Contact Event",
        "source": "aws.connect", "account": "111", "time": at(seconds).isoformat(),
        "region": "us-east-1", "resources": [], "detail": detail,
    }  # fmt: skip


def connect_answered(cid: str = "connect-answered") -> list[dict[str, Any]]:
    return [
        connect_event(cid, "INITIATED", 0, 1),
        connect_event(cid, "QUEUED", 3, 2, queued=True),
        connect_event(cid, "CONNECTED_TO_AGENT", 20, 3, queued=True, agent_at=20),
        connect_event(cid, "DISCONNECTED", 800, 4, queued=True, agent_at=20, ended_at=800),
        connect_event(cid, "COMPLETED", 900, 5, queued=True, agent_at=20, ended_at=800),
    ]


def connect_abandoned(cid: str = "connect-abandoned") -> list[dict[str, Any]]:
    return [
        connect_event(cid, "INITIATED", 0, 1),
        connect_event(cid, "QUEUED", 3, 2, queued=True),
        connect_event(cid, "DISCONNECTED", 50, 3, queued=True, ended_at=50),
    ]


# ---- Genesys, Asterisk AMI / ARI, FreeSWITCH ESL (native shapes) -------------------------


def genesys(conv: str, outcome: str) -> list[tuple[str, dict[str, Any]]]:
    base = f"v2.detail.events.conversation.{conv}"
    body = lambda s, **kw: {"eventTime": at(s).isoformat(), "conversationId": conv,  # noqa: E731
                            "participantId": "p1", "mediaType": "VOICE", "ani": "tel:+12349013030", **kw}  # fmt: skip
    return [
        (f"{base}.customer.start", body(0)),
        (f"{base}.acd.start", body(2)),
        (f"{base}.acd.end", body(30, acdOutcome=outcome, answeredUserId="u-7")),
        (f"{base}.customer.end", body(600)),
    ]


def ami(uid: str, abandoned: bool) -> list[dict[str, str]]:
    events = [
        {"Event": "Newchannel", "Uniqueid": uid, "Linkedid": uid, "CallerIDNum": "2349013030"},
        {"Event": "QueueCallerJoin", "Uniqueid": uid, "Linkedid": uid, "Queue": "crisis"},
    ]
    if abandoned:
        events.append({"Event": "QueueCallerAbandon", "Uniqueid": uid, "Linkedid": uid})
    else:
        events.append(
            {"Event": "AgentConnect", "Uniqueid": uid, "Linkedid": uid, "Interface": "PJSIP/7"}
        )
    events.append({"Event": "Hangup", "Uniqueid": uid, "Linkedid": uid, "Cause": "16"})
    return events


def esl(uid: str, answered: bool) -> list[dict[str, str]]:
    def ev(name: str, seconds: float, seq: int) -> dict[str, str]:
        return {"Event-Name": name, "Unique-ID": uid, "Event-Sequence": str(seq),
                "Event-Date-Timestamp": str(int(at(seconds).timestamp() * 1_000_000)),
                "Caller-Caller-ID-Number": "+12349013030"}  # fmt: skip

    events = [ev("CHANNEL_CREATE", 0, 1), ev("CHANNEL_ANSWER", 1, 2)]
    if answered:
        events.append(ev("CHANNEL_BRIDGE", 25, 3))
    events.append(ev("CHANNEL_HANGUP_COMPLETE", 700 if answered else 40, 4))
    return events


def ari(cid: str) -> list[dict[str, Any]]:
    channel = {"id": cid, "name": "PJSIP/trunk-1", "state": "Up",
               "caller": {"name": "", "number": "+12349013030"}}  # fmt: skip
    return [
        {
            "type": "StasisStart",
            "timestamp": at(0).isoformat(),
            "args": ["queue"],
            "channel": channel,
        },
        {"type": "ChannelEnteredBridge", "timestamp": at(20).isoformat(), "channel": channel},
        {
            "type": "ChannelDestroyed",
            "timestamp": at(640).isoformat(),
            "channel": channel,
            "cause": 16,
        },
    ]


def twilio_failed(sid: str = "CA-failed", result: str = "queue-full") -> list[dict[str, str]]:
    return [
        twilio_status(sid, "ringing", 0, 0),
        twilio_status(sid, "in-progress", 1, 2),
        twilio_queue(sid, result, 0),
        twilio_status(sid, "completed", 2, 3),
    ]


def connect_failed(cid: str = "connect-failed") -> list[dict[str, Any]]:
    last = connect_event(cid, "DISCONNECTED", 20, 3, queued=True, ended_at=20)
    last["detail"]["disconnectReason"] = "TELECOM_PROBLEM"
    return [
        connect_event(cid, "INITIATED", 0, 1),
        connect_event(cid, "QUEUED", 3, 2, queued=True),
        last,
    ]


def taskrouter_event(call_sid: str, event_type: str, seconds: float, n: int,
                     worker: str | None = None) -> dict[str, str]:  # fmt: skip
    form = {
        "EventType": event_type, "Sid": f"EV{call_sid}{n}", "AccountSid": "AC123",
        "WorkspaceSid": "WS1", "TaskSid": f"WT{call_sid}", "ResourceSid": f"WT{call_sid}",
        "TaskAttributes": f'{{"call_sid": "{call_sid}", "from": "+12349013030"}}',
        "Timestamp": str(int(at(seconds).timestamp())), "TaskQueueSid": "WQ1",
    }  # fmt: skip
    if worker:
        form |= {"WorkerSid": "WK7", "WorkerName": worker, "ReservationSid": f"WR{call_sid}"}
    return form


def twilio_taskrouter_answered(sid: str = "CA-tr") -> list[tuple[str, dict[str, str]]]:
    """A TaskRouter-routed call: voice callbacks and TaskRouter events, in time order."""
    return [
        ("voice", twilio_status(sid, "ringing", 0, 0)),
        ("voice", twilio_status(sid, "in-progress", 1, 2)),
        ("taskrouter", taskrouter_event(sid, "task.created", 2, 1)),
        ("taskrouter", taskrouter_event(sid, "reservation.accepted", 16, 2, worker="counselor-7")),
        ("voice", twilio_status(sid, "completed", 2, 900)),
        ("taskrouter", taskrouter_event(sid, "task.wrapup", 900, 3, worker="counselor-7")),
        ("taskrouter", taskrouter_event(sid, "task.completed", 960, 4, worker="counselor-7")),
        ("voice", twilio_queue(sid, "bridged", 14)),
    ]
