"""SLA transitions reach the center's supervisor webhook, HMAC-signed, retried after failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hotline_shared import webhooks
from hotline_shared.kafka import EventBus

from tests.factories import SAMPLE_DATA, sample_event
from tests.integration.followup.support import Stack, abandoned, centers_file
from tests.support import Recorder, wait_until

pytestmark = pytest.mark.integration

SECRET = "alert-secret-for-tests"


def fails_first(n: int, _body: bytes) -> tuple[int, bytes]:
    """A supervisor's alert endpoint that fails its first delivery."""
    return (500, b"") if n == 1 else (204, b"")


def received(receiver: Recorder) -> list[dict[str, Any]]:
    return [{"body": json.loads(r["raw"]), "signature": r["headers"][webhooks.HEADER], "raw": r["raw"]}
            for r in receiver.accepted()]  # fmt: skip


@pytest.fixture
def receiver() -> Iterator[Recorder]:
    r = Recorder(fails_first)
    yield r
    r.close()


@pytest.mark.slow
async def test_sla_alerts_are_signed_and_retried(
    stack: Stack, upstream: EventBus, receiver: Recorder, tmp_path: Path
) -> None:
    center = centers_file(
        tmp_path, alert_webhook_url=f"{receiver.url}/alerts", alert_webhook_secret=SECRET
    )
    replica = stack.replica(
        HOTLINE_CENTERS_FILE=str(center), HOTLINE_FOLLOWUP_ALERT_INTERVAL_SECONDS="0.3"
    )
    replica.start()
    await replica.wait_ready()
    await upstream.publish(abandoned(1))  # a callback nobody makes: at risk, then breached

    def both() -> bool:
        types = [r["body"]["type"] for r in received(receiver)]
        return (
            "hotline.followup.sla-at-risk.v1" in types
            and "hotline.followup.sla-breached.v1" in types
        )

    await wait_until(both, timeout=60, what="at-risk and breached alerts")
    assert receiver.calls > len(received(receiver)), "the failed first delivery was retried"
    now = datetime.now(UTC)
    for alert in received(receiver):
        assert webhooks.verify(SECRET, alert["raw"], alert["signature"], now=now)
    assert len({r["body"]["id"] for r in received(receiver)}) == len(received(receiver))


async def test_high_risk_escalation_and_overdue_documentation_alert_at_once_and_once(
    stack: Stack, upstream: EventBus, receiver: Recorder, tmp_path: Path
) -> None:
    """Two replicas consume every fact; each alert reaches the supervisor exactly once."""
    centers_path = centers_file(
        tmp_path, alert_webhook_url=f"{receiver.url}/alerts", alert_webhook_secret=SECRET
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
        return {r["body"]["id"] for r in received(receiver)} >= {e.id for e in alerting}

    await wait_until(alerted, timeout=60, what="three alerts")
    await upstream.publish(fact("hotline.risk.escalated.v1", "a-last"))  # a marker after the rest
    await wait_until(lambda: "a-last" in {r["body"]["id"] for r in received(receiver)}, timeout=60,
                     what="the marker alert")  # fmt: skip
    # (the escalation's own tasks may add SLA alerts: those are the other test's subject)
    ids = [
        r["body"]["id"]
        for r in received(receiver)
        if not r["body"]["type"].startswith("hotline.followup.")
    ]
    assert sorted(ids) == sorted(["a-high", "a-escalated", "a-overdue", "a-last"])
    now_dt = datetime.now(UTC)
    assert all(
        webhooks.verify(SECRET, r["raw"], r["signature"], now=now_dt) for r in received(receiver)
    )
