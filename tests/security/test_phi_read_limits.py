"""Caller-data reads are rate-limited per user across replicas (429 with Retry-After), and
the burst reaches a supervisor as one signed alert."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hotline_shared.ids import contact_id_for

from tests.conftest import token_for
from tests.integration.followup.support import centers_file
from tests.integration.intake.test_telephony import post_twilio
from tests.support import Recorder, ServiceProcess, unique, wait_until
from tests.unit.intake import sequences as seq

pytestmark = pytest.mark.integration

SECRET = "alert-secret-for-phi-reads"
LIMIT = 4


@pytest.fixture
def supervisor() -> Iterator[Recorder]:
    s = Recorder()
    yield s
    s.close()


@pytest.mark.slow
async def test_phi_reads_over_the_limit_are_429_across_replicas_and_alert_once(
    tmp_path: Path, supervisor: Recorder
) -> None:
    prefix = unique("t")
    env = {"HOTLINE_KAFKA_TOPIC_PREFIX": f"{prefix}.", "HOTLINE_MONGODB_DATABASE_PREFIX": f"{prefix}_",
           "HOTLINE_PHI_READS_PER_WINDOW": str(LIMIT), "HOTLINE_PHI_READ_WINDOW_SECONDS": "3600",
           "HOTLINE_CENTERS_FILE": str(centers_file(tmp_path, alert_webhook_url=f"{supervisor.url}/alerts",
                                                    alert_webhook_secret=SECRET)),
           "HOTLINE_FOLLOWUP_ALERT_INTERVAL_SECONDS": "0.2"}  # fmt: skip
    processes = [ServiceProcess("intake", env, tmp_path), ServiceProcess("intake", env, tmp_path),
                 ServiceProcess("followup", env, tmp_path)]  # fmt: skip
    for process in processes:
        process.start()
    try:
        for process in processes:
            await process.wait_ready()
        first, second = processes[0], processes[1]
        reader = {
            "Authorization": f"Bearer {token_for('counselor', ['center-01'], unique('reader-'))}"
        }
        other = {  # a supervisor: not limited by assignment, limited by the same count
            "Authorization": f"Bearer {token_for('supervisor', ['center-01'], unique('other-'))}"
        }
        sid = unique("CA")
        async with httpx.AsyncClient(base_url=first.url, timeout=10) as client:
            for form in seq.twilio_answered(sid):
                assert (await post_twilio(client, form)).status_code == 200
        contact = contact_id_for("center-01", "twilio", sid)
        statuses = []
        async with httpx.AsyncClient(timeout=10) as client:
            for n in range(LIMIT + 2):  # alternating replicas: one count
                replica = (first, second)[n % 2]
                path = (
                    f"/v1/contacts/{contact}"
                    if n % 3
                    else f"/v1/contacts/{contact}/caller?reason=callback"
                )
                response = await client.get(replica.url + path, headers=reader)
                statuses.append(response.status_code)
            refused = response
            others = await client.get(f"{first.url}/v1/contacts/{contact}", headers=other)
        assert statuses == [200] * LIMIT + [429, 429]
        assert int(refused.headers["Retry-After"]) > 0
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert others.status_code == 200  # per user

        def burst() -> list[dict[str, Any]]:
            return supervisor.events("hotline.security.phi-read-burst.v1")

        alerts = await wait_until(burst, timeout=60, what="the PHI-read burst alert")
        event = alerts[0]
        assert event["data"]["reads"] == LIMIT + 1 and event["data"]["limit"] == LIMIT
        assert event["data"]["user"].startswith("reader-")
        assert "12349013030" not in json.dumps(event)
        async with httpx.AsyncClient(timeout=10) as client:  # a later read: still one alert
            assert (
                await client.get(f"{first.url}/v1/contacts/{contact}", headers=reader)
            ).status_code == 429
            marker = await client.get(f"{second.url}/v1/contacts/{contact}", headers=other)
        assert marker.status_code == 200
        assert len(burst()) == 1
    finally:
        for process in processes:
            process.stop()
