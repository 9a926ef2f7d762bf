"""A contact answered now, as Amazon Connect reports it (contact events via EventBridge), with
the counselor's agent ARN and the caller's number (a contact-flow attribute)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hotline_shared.ids import contact_id_for

CONNECT_KEYS = {"center-01": "dev-connect-key-center-01", "center-02": "dev-connect-key-center-02"}


def _event(cid: str, kind: str, n: int, start: datetime, *, agent: str | None, caller: str,
           answered: datetime | None, ended: datetime | None) -> dict[str, Any]:  # fmt: skip
    detail: dict[str, Any] = {
        "eventType": kind, "contactId": cid, "initialContactId": cid, "channel": "VOICE",
        "instanceArn": "arn:aws:connect:us-east-1:111:instance/abc", "initiationMethod": "INBOUND",
        "initiationTimestamp": start.isoformat(), "attributes": {"HotlineCallerNumber": caller},
        "queueInfo": {"queueArn": "arn:q", "queueType": "STANDARD",
                      "enqueueTimestamp": (start + timedelta(seconds=1)).isoformat()},
    }  # fmt: skip
    if answered is not None:
        detail["agentInfo"] = {"agentArn": agent, "connectedToAgentTimestamp": answered.isoformat()}
    if ended is not None:
        detail["disconnectTimestamp"] = ended.isoformat()
    return {"version": "0", "id": f"evt-{cid}-{n}", "detail-type": "Amazon Connect Contact Event",
            "source": "aws.connect", "account": "111", "time": start.isoformat(),
            "region": "us-east-1", "resources": [], "detail": detail}  # fmt: skip


def answered_events(
    cid: str, *, agent: str, caller: str, end: bool = False
) -> list[dict[str, Any]]:
    """INITIATED, QUEUED, CONNECTED_TO_AGENT (and DISCONNECTED with `end`), happening now."""
    start = datetime.now(UTC) - timedelta(seconds=20)
    answered = start + timedelta(seconds=12)
    steps = [
        ("INITIATED", None, None),
        ("QUEUED", None, None),
        ("CONNECTED_TO_AGENT", answered, None),
    ]
    if end:
        steps.append(("DISCONNECTED", answered, datetime.now(UTC)))
    return [_event(cid, kind, n, start, agent=agent, caller=caller, answered=at, ended=ended)
            for n, (kind, at, ended) in enumerate(steps, 1)]  # fmt: skip


def post_connect(intake_url: str, center: str, body: dict[str, Any]) -> None:
    response = httpx.post(f"{intake_url}/v1/telephony/amazon-connect/{center}", json=body,
                          headers={"X-Api-Key": CONNECT_KEYS[center]}, timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text


def answer_call(intake_url: str, center: str, cid: str, *, agent: str, caller: str,
                end: bool = False) -> str:  # fmt: skip
    """A call answered now by `agent`, as Connect reports it; the contact id."""
    for body in answered_events(cid, agent=agent, caller=caller, end=end):
        post_connect(intake_url, center, body)
    return contact_id_for(center, "amazon-connect", cid)
