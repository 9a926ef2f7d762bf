"""SLA transitions reach the center's supervisor webhook, HMAC-signed, retried after failure."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from hotline_shared import webhooks
from hotline_shared.kafka import EventBus

from tests.factories import SAMPLE_DATA, sample_event
from tests.integration.followup.support import Stack, abandoned, centers_file
from tests.support import wait_until

pytestmark = pytest.mark.integration

SECRET = "alert-secret-for-tests"


class Receiver:
    """A supervisor's alert endpoint on loopback that fails its first delivery."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.calls = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls += 1
                status = 500 if receiver.calls == 1 else 204
                if status == 204:
                    receiver.received.append({"body": json.loads(body), "signature": self.headers[webhooks.HEADER],
                                              "raw": body})  # fmt: skip
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.mark.slow
async def test_sla_alerts_are_signed_and_retried(
    stack: Stack, upstream: EventBus, receiver: Receiver, tmp_path: Path
) -> None:
    center = centers_file(tmp_path, alert_webhook_url=receiver.url, alert_webhook_secret=SECRET)
    replica = stack.replica(
        HOTLINE_CENTERS_FILE=str(center), HOTLINE_FOLLOWUP_ALERT_INTERVAL_SECONDS="0.3"
    )
    replica.start()
    await replica.wait_ready()
    await upstream.publish(abandoned(1))  # a callback nobody makes: at risk, then breached

    def both() -> bool:
        types = [r["body"]["type"] for r in receiver.received]
        return (
            "hotline.followup.sla-at-risk.v1" in types
            and "hotline.followup.sla-breached.v1" in types
        )

    await wait_until(both, timeout=60, what="at-risk and breached alerts")
    assert receiver.calls > len(receiver.received), "the failed first delivery was retried"
    now = datetime.now(UTC)
    for alert in receiver.received:
        assert webhooks.verify(SECRET, alert["raw"], alert["signature"], now=now)
    assert len({r["body"]["id"] for r in receiver.received}) == len(receiver.received)


async def test_high_risk_escalation_and_overdue_documentation_alert_at_once_and_once(
    stack: Stack, upstream: EventBus, receiver: Receiver, tmp_path: Path
) -> None:
    """Two replicas consume every fact; each alert reaches the supervisor exactly once."""
    centers_path = centers_file(
        tmp_path, alert_webhook_url=receiver.url, alert_webhook_secret=SECRET
    )
    env = {
        "HOTLINE_CENTERS_FILE": str(centers_path),
        "HOTLINE_FOLLOWUP_ALERT_INTERVAL_SECONDS": "0.2",
    }
    replicas = [stack.replica(**env), stack.replica(**env)]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        await replica.wait_ready()
    center = "center-01"
    now = datetime.now(UTC).isoformat()

    def fact(event_type: str, event_id: str, **data: Any) -> Any:
        return sample_event(event_type, id=event_id, centerid=center, time=now,
                            data={**SAMPLE_DATA[event_type], **data})  # fmt: skip

    alerting = [
        fact("hotline.risk.assessed.v1", "a-high", level="high", override=None),
        fact("hotline.risk.escalated.v1", "a-escalated"),
        fact("hotline.session.documentation-overdue.v1", "a-overdue"),
    ]
    quiet = fact(
        "hotline.risk.assessed.v1", "a-low", level="low", computed_level="low", override=None
    )
    for event in [*alerting, quiet, *alerting]:  # delivered twice: still one alert each
        await upstream.publish(event)

    def alerted() -> bool:
        return {r["body"]["id"] for r in receiver.received} >= {e.id for e in alerting}

    await wait_until(alerted, timeout=60, what="three alerts")
    await upstream.publish(fact("hotline.risk.escalated.v1", "a-last"))  # a marker after the rest
    await wait_until(lambda: "a-last" in {r["body"]["id"] for r in receiver.received}, timeout=60,
                     what="the marker alert")  # fmt: skip
    # (the escalation's own tasks may add SLA alerts: those are the other test's subject)
    ids = [
        r["body"]["id"]
        for r in receiver.received
        if not r["body"]["type"].startswith("hotline.followup.")
    ]
    assert sorted(ids) == sorted(["a-high", "a-escalated", "a-overdue", "a-last"])
    now_dt = datetime.now(UTC)
    assert all(
        webhooks.verify(SECRET, r["raw"], r["signature"], now=now_dt) for r in receiver.received
    )
