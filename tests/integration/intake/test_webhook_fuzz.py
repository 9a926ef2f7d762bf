"""Property: random and malformed webhook bodies never produce a 5xx."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import httpx
import pytest
from hotline_intake.adapters.telephony import pbx
from hotline_shared import twilio as signatures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.intake.test_telephony import (
    CENTER,
    CONNECT_KEY,
    TWILIO_TOKEN,
    WEBHOOK_SECRET,
)
from tests.support import ServiceProcess

pytestmark = pytest.mark.integration

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
twilio_keys = st.sampled_from(["CallSid", "CallStatus", "From", "Direction", "QueueResult", "QueueTime",
                               "Timestamp", "SequenceNumber", "ParentCallSid", "x"])  # fmt: skip
connect_like = st.fixed_dictionaries(
    {"detail-type": st.sampled_from(["Amazon Connect Contact Event", "other"]), "id": st.text(max_size=8),
     "time": st.sampled_from(["2026-11-27T18:00:00Z", "yesterday", ""]),
     "detail": st.fixed_dictionaries({}, optional={
         "eventType": st.sampled_from(["QUEUED", "DISCONNECTED", "X"]) | st.integers(),
         "contactId": st.text(max_size=8) | st.integers(), "queueInfo": json_values,
         "agentInfo": json_values, "disconnectTimestamp": st.text(max_size=10) | st.integers()})},
)  # fmt: skip
pbx_like = st.fixed_dictionaries({}, optional={
    "event_id": st.text(max_size=10) | st.integers(), "call_id": st.text(max_size=10),
    "provider": st.sampled_from(["asterisk", "genesys", "pbx9000"]),
    "kind": st.sampled_from(["started", "ended", "exploded"]),
    "occurred_at": st.sampled_from(["2026-11-27T18:00:00Z", "2026-11-27T18:00:00", "nope"]),
    "caller_number": st.text(max_size=40) | st.none(), "answered": json_values})  # fmt: skip


async def test_random_signed_twilio_forms_never_5xx(intake_service: ServiceProcess) -> None:
    url = f"{intake_service.url}/v1/telephony/twilio/{CENTER}"

    @FUZZ
    @given(st.dictionaries(twilio_keys, st.text(max_size=30), max_size=8))
    def check(form: dict[str, str]) -> None:
        response = httpx.post(url, content=urlencode(form), timeout=10, headers={
            "X-Twilio-Signature": signatures.signature(TWILIO_TOKEN, url, form),
            "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert response.status_code < 500, response.text

    check()


async def test_random_bytes_never_5xx(intake_service: ServiceProcess) -> None:
    @FUZZ
    @given(st.binary(max_size=300), st.sampled_from(["twilio", "amazon-connect", "events"]))
    def check(body: bytes, endpoint: str) -> None:
        headers = {"X-Api-Key": CONNECT_KEY, "Content-Type": "application/json",
                   "X-Hotline-Signature": pbx.sign(WEBHOOK_SECRET, body, int(time.time())),
                   "X-Twilio-Signature": "x"}  # fmt: skip
        response = httpx.post(f"{intake_service.url}/v1/telephony/{endpoint}/{CENTER}",
                              content=body, headers=headers, timeout=10)  # fmt: skip
        assert response.status_code < 500, response.text
        assert response.status_code in (400, 403, 413, 422) or response.status_code < 300

    check()


async def test_random_connect_and_pbx_json_never_5xx(intake_service: ServiceProcess) -> None:
    @FUZZ
    @given(connect_like | json_values, pbx_like | json_values)
    def check(connect_body: object, pbx_body: object) -> None:
        raw = json.dumps(connect_body).encode()
        response = httpx.post(f"{intake_service.url}/v1/telephony/amazon-connect/{CENTER}", content=raw,
                              headers={"X-Api-Key": CONNECT_KEY}, timeout=10)  # fmt: skip
        assert response.status_code < 500, response.text
        raw = json.dumps(pbx_body).encode()
        response = httpx.post(f"{intake_service.url}/v1/telephony/events/{CENTER}", content=raw, timeout=10,
                              headers={"X-Hotline-Signature": pbx.sign(WEBHOOK_SECRET, raw, int(time.time()))})  # fmt: skip
        assert response.status_code < 500, response.text

    check()
