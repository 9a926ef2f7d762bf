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


async def test_alert_feed_is_newest_first_acknowledged_once_and_unacknowledged_imminent_goes_on_call(
    stack: Stack, upstream: EventBus, receiver: Recorder, tmp_path: Path
) -> None:
    """The feed holds every alert (no webhook needed); an acknowledgement records who and
    when; an escalation nobody acknowledged in time reaches the on-call webhook, once; an
    acknowledged one never does."""
    import httpx

    from tests.conftest import token_for

    centers_path = centers_file(tmp_path, oncall_webhook_url=f"{receiver.url}/oncall",
                                alert_webhook_secret=SECRET)  # fmt: skip
    replica = stack.replica(HOTLINE_CENTERS_FILE=str(centers_path),
                            HOTLINE_FOLLOWUP_ALERT_INTERVAL_SECONDS="0.2",
                            HOTLINE_FOLLOWUP_ONCALL_AFTER_SECONDS="1")  # fmt: skip
    replica.start()
    await replica.wait_ready()
    now = datetime.now(UTC).isoformat()
    acked_first = sample_event("hotline.risk.escalated.v1", id="e-acked", centerid="center-01",
                               time=now, data=SAMPLE_DATA["hotline.risk.escalated.v1"])  # fmt: skip
    for event in (acked_first,):
        await upstream.publish(event)
    headers = {"Authorization": f"Bearer {token_for('supervisor', ['center-01'], sub='sam')}"}
    async with httpx.AsyncClient(base_url=replica.url, headers=headers, timeout=10) as client:

        async def feed() -> list[dict[str, Any]]:
            return (await client.get("/v1/alerts", params={"center_id": "center-01"})).json()[
                "items"
            ]

        await wait_until(lambda: _has(feed, "e-acked"), timeout=30, what="the first alert")
        ack = await client.post("/v1/alerts/e-acked/acknowledge")
        assert ack.status_code == 200 and ack.json()["acked_by"] == "sam"
        again = await client.post("/v1/alerts/e-acked/acknowledge",
                                  headers={"Authorization": f"Bearer {token_for('supervisor', ['center-01'], sub='kim')}"})  # fmt: skip
        assert again.json()["acked_by"] == "sam"  # the first acknowledgement counts
        later = datetime.now(UTC).isoformat()
        await upstream.publish(sample_event("hotline.risk.escalated.v1", id="e-ignored", centerid="center-01",
                                            time=later, data=SAMPLE_DATA["hotline.risk.escalated.v1"]))  # fmt: skip
        await wait_until(lambda: [r for r in receiver.accepted() if r["path"] == "/oncall"],
                         timeout=30, what="the on-call escalation")  # fmt: skip
        items = [i for i in await feed() if i["id"] in ("e-ignored", "e-acked")]
        assert [i["id"] for i in items] == ["e-ignored", "e-acked"]  # newest first
        assert items[0]["imminent"] and items[0]["oncall"] == "sent"
        assert items[1]["oncall"] == "acknowledged"
    oncall = [json.loads(r["raw"])["id"] for r in receiver.accepted() if r["path"] == "/oncall"]
    assert oncall == ["e-ignored"]
    assert webhooks.verify(SECRET, receiver.accepted()[-1]["raw"],
                           receiver.accepted()[-1]["headers"][webhooks.HEADER], now=datetime.now(UTC))  # fmt: skip


async def _has(feed: Any, alert_id: str) -> bool:
    return alert_id in {i["id"] for i in await feed()}
