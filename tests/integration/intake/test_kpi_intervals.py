"""The KPI interval API against values computed by hand from a fixed set of contacts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hotline_shared.ids import contact_id_for

from tests.browser.telephony import CONNECT_KEYS, _event
from tests.conftest import token_for
from tests.support import ServiceProcess, unique

pytestmark = pytest.mark.integration

CENTER = "center-01"
DAY = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


async def call(client: httpx.AsyncClient, minute: int, *, answered_after: float | None = None,
               left_after: float | None = None) -> str:  # fmt: skip
    """A Connect contact starting at 10:`minute`, queued one second later, answered or left
    after the given wait."""
    cid, start = unique("kpi-"), DAY + timedelta(minutes=minute)
    queued = start + timedelta(seconds=1)
    answered = queued + timedelta(seconds=answered_after) if answered_after is not None else None
    ended = queued + timedelta(seconds=left_after) if left_after is not None else None
    last = "CONNECTED_TO_AGENT" if answered else "DISCONNECTED"
    for n, kind in enumerate(("INITIATED", "QUEUED", last), 1):
        body = _event(cid, kind, n, start, agent="arn:agent/kpi", caller="+12025550111",
                      answered=answered if kind == last else None, ended=ended if kind == last else None)  # fmt: skip
        body["detail"]["queueInfo"]["enqueueTimestamp"] = queued.isoformat()
        response = await client.post(f"/v1/telephony/amazon-connect/{CENTER}", json=body,
                                     headers={"X-Api-Key": CONNECT_KEYS[CENTER]})  # fmt: skip
        assert response.status_code == 200, response.text
    return contact_id_for(CENTER, "amazon-connect", cid)


async def test_intervals_match_the_hand_computed_kpis(intake_service: ServiceProcess) -> None:
    supervisor = {"Authorization": f"Bearer {token_for('supervisor', [CENTER])}"}
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=30) as client:
        first = await call(client, 0, answered_after=10)  # 10:00 bucket: answered in 10 s
        await call(client, 5, answered_after=40)  # answered in 40 s (outside the 20 s level)
        await call(client, 10, left_after=60)  # abandoned after a minute
        await call(client, 20, left_after=2)  # 10:15 bucket: a short abandon (under 5 s)
        await call(client, 25, answered_after=5)
        screen = await client.post(f"/v1/contacts/{first}/screenings", headers=supervisor,
                                   json={"answers": {"q1": True, "q2": False, "q6": False}})  # fmt: skip
        assert screen.status_code == 201, screen.text
        page = await client.get("/v1/kpis/operations/intervals", headers=supervisor, params={
            "center_id": CENTER, "from": DAY.isoformat(), "to": (DAY + timedelta(minutes=45)).isoformat(),
            "interval": "15m"})  # fmt: skip
        now = datetime.now(UTC)
        mix = await client.get("/v1/kpis/operations/intervals", headers=supervisor, params={
            "center_id": CENTER, "from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(hours=1)).isoformat(), "interval": "1h"})  # fmt: skip
    assert page.status_code == 200, page.text
    a, b, c = page.json()["intervals"]
    keys = ("offered", "answered", "abandoned", "short_abandoned", "answer_rate",
            "abandonment_rate", "average_speed_to_answer_seconds", "service_level")  # fmt: skip
    assert [a[k] for k in keys] == [3, 2, 1, 0, 0.6667, 0.3333, 25.0, 0.3333]
    assert [b[k] for k in keys] == [2, 1, 0, 1, 0.5, 0.0, 5.0, 1.0]
    assert [c[k] for k in keys] == [0, 0, 0, 0, None, None, None, None]
    starts = [datetime.fromisoformat(i["start"]) for i in (a, b, c)]
    assert starts == [DAY + timedelta(minutes=m) for m in (0, 15, 30)]
    assert mix.json()["risk_mix"] == {"none": 0, "low": 1, "moderate": 0, "high": 0}


async def test_a_window_too_long_or_empty_is_refused_naming_the_field(
    intake_service: ServiceProcess,
) -> None:
    supervisor = {"Authorization": f"Bearer {token_for('supervisor', [CENTER])}"}
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=30) as client:
        empty = await client.get("/v1/kpis/operations/intervals", headers=supervisor, params={
            "center_id": CENTER, "from": DAY.isoformat(), "to": DAY.isoformat()})  # fmt: skip
        long = await client.get("/v1/kpis/operations/intervals", headers=supervisor, params={
            "center_id": CENTER, "from": DAY.isoformat(),
            "to": (DAY + timedelta(days=400)).isoformat(), "interval": "15m"})  # fmt: skip
        bad = await client.get("/v1/kpis/operations/intervals", headers=supervisor, params={
            "center_id": CENTER, "from": DAY.isoformat(), "to": (DAY + timedelta(days=1)).isoformat(),
            "interval": "7m"})  # fmt: skip
    assert (empty.status_code, empty.json()["errors"][0]["field"]) == (422, "to")
    assert (long.status_code, long.json()["errors"][0]["field"]) == (422, "interval")
    assert bad.status_code == 422 and "interval" in bad.text
