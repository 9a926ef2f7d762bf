"""Operability against the real stack: one caller's trace from the telephony webhook to the
follow-up task across three service processes (exported over OTLP/HTTP to a local receiver),
and the metrics each service exports — with no PHI in either."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.conftest import token_for
from tests.integration.intake.test_telephony import post_twilio
from tests.support import Recorder, ServiceProcess, isolated_env, running, unique, wait_until
from tests.unit.intake import sequences as seq

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CALLER = "+15550001111"  # PHI: must appear in no span and no metric
CENTER = "center-01"


@dataclass(frozen=True)
class SpanSeen:
    service: str
    span: Span

    @property
    def attributes(self) -> dict[str, Any]:
        return {a.key: _value(a.value) for a in self.span.attributes}


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def spans_of(receiver: Recorder) -> list[SpanSeen]:
    seen = []
    for request in receiver.accepted():
        if request["path"] != "/v1/traces":
            continue
        export = ExportTraceServiceRequest.FromString(request["raw"])
        for resource_spans in export.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                seen += [SpanSeen(resource["service.name"], s) for s in scope.spans]
    return seen


@dataclass
class Pipeline:
    services: dict[str, ServiceProcess]
    receiver: Recorder
    sid: str
    task: dict[str, Any]


@pytest.fixture(scope="module")
async def pipeline(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pipeline]:
    """An abandoned call, through intake, to the follow-up service's callback task, with
    tracing on (the standard OTEL_* variables) and exporting to a local receiver."""
    receiver = Recorder()
    env = isolated_env() | {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    log_dir = Path(tmp_path_factory.mktemp("observability"))
    sid = unique("CA")
    try:
        async with running("intake", "sessions", "followup", env=env, log_dir=log_dir) as services:
            async with httpx.AsyncClient(base_url=services["intake"].url, timeout=10) as client:
                for form in seq.twilio_abandoned(sid, caller=CALLER):
                    assert (await post_twilio(client, form)).status_code == 200
            token = token_for("counselor", [CENTER])
            async with httpx.AsyncClient(base_url=services["followup"].url, timeout=10,
                                         headers={"Authorization": f"Bearer {token}"}) as api:  # fmt: skip

                async def callback() -> dict[str, Any] | None:
                    page = (await api.get("/v1/followups", params={"center_id": CENTER})).json()
                    return next(iter(page["items"]), None)

                task = await wait_until(callback, timeout=60, what="the callback task")
            yield Pipeline(services, receiver, sid, task)
    finally:
        receiver.close()


async def test_one_trace_runs_from_the_telephony_webhook_to_the_follow_up_task(
    pipeline: Pipeline,
) -> None:
    def the_trace() -> list[SpanSeen] | None:
        spans = spans_of(pipeline.receiver)
        consumed = [s for s in spans if s.service == "hotline-followup"
                    and s.span.name == "process hotline.contact.abandoned.v1"]  # fmt: skip
        if not consumed:
            return None
        trace = [s for s in spans if s.span.trace_id == consumed[0].span.trace_id]
        scheduled = [s for s in trace if s.service == "hotline-followup"
                     and s.span.name == "send hotline.followups.v1"]  # fmt: skip
        roots = [s for s in trace if not s.span.parent_span_id]  # each service exports apart
        return trace if scheduled and roots else None

    trace = await wait_until(the_trace, timeout=60, what="the trace reaching the task's event")
    by_id = {s.span.span_id: s for s in trace}
    [root] = [s for s in trace if not s.span.parent_span_id]
    assert root.service == "hotline-intake"
    assert root.span.kind == Span.SPAN_KIND_SERVER
    assert root.attributes.get("http.route") == "/v1/telephony/twilio/{center_id}"

    consumer = next(s for s in trace if s.span.name == "process hotline.contact.abandoned.v1")
    assert consumer.span.kind == Span.SPAN_KIND_CONSUMER
    assert consumer.attributes["messaging.consumer.group.name"].startswith("hotline-followup")
    # its parent is in intake: the trace context crossed Kafka inside the event
    assert by_id[consumer.span.parent_span_id].service == "hotline-intake"

    # the task was written inside it (PyMongo instrumentation), and its event sent
    def descends_from(span: SpanSeen, ancestor: SpanSeen) -> bool:
        while span.span.parent_span_id in by_id:
            span = by_id[span.span.parent_span_id]
            if span is ancestor:
                return True
        return False

    task_writes = [s for s in trace if s.service == "hotline-followup"
                   and s.span.kind == Span.SPAN_KIND_CLIENT and "tasks" in s.attributes.values()]  # fmt: skip
    names = sorted({(s.service, s.span.name, s.span.kind) for s in trace})
    assert task_writes, names
    assert all(descends_from(s, consumer) for s in task_writes)
    sends = [s for s in trace if s.span.name == "send hotline.followups.v1"]
    assert any(descends_from(s, consumer) for s in sends)
    assert {s.service for s in trace} >= {"hotline-intake", "hotline-followup"}


async def test_no_span_carries_phi(pipeline: Pipeline) -> None:
    spans = await wait_until(lambda: spans_of(pipeline.receiver), what="spans")
    digits = CALLER.lstrip("+")
    for seen in spans:
        for key, value in seen.attributes.items():
            assert digits not in str(value), (seen.span.name, key)
        for event in seen.span.events:
            assert {a.key for a in event.attributes} <= {"exception.type", "exception.escaped"}


PROM_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?P<labels>.*)\})? (?P<value>\S+)$")


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    found = []
    for line in text.splitlines():
        match = PROM_LINE.match(line)
        if match and not line.startswith("#"):
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match["labels"] or ""))
            found.append((match["name"], labels, float(match["value"])))
    return found


def value(found: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(v for n, ls, v in found if n == name and labels.items() <= ls.items())


async def scrape(service: ServiceProcess) -> list[tuple[str, dict[str, str], float]]:
    async with httpx.AsyncClient(timeout=10) as client:
        return samples((await client.get(f"{service.url}/metrics")).text)


async def test_metrics_count_the_domain_http_and_kafka_without_ids_or_phi(
    pipeline: Pipeline,
) -> None:
    intake = await scrape(pipeline.services["intake"])
    assert value(intake, "hotline_contacts_total", outcome="abandoned", channel="voice") >= 1
    assert value(intake, "http_requests_total", handler="/v1/telephony/twilio/{center_id}",
                 status="200") >= 3  # fmt: skip
    assert value(intake, "hotline_kafka_published_messages_total") >= 3

    async def followup_counted() -> list[tuple[str, dict[str, str], float]] | None:
        found = await scrape(pipeline.services["followup"])
        open_callbacks = value(found, "hotline_followup_tasks_open", kind="callback")
        return found if open_callbacks >= 1 else None  # the gauges job runs every 15 s

    followup = await wait_until(followup_counted, timeout=45, what="the open-task gauge")
    assert value(followup, "hotline_followup_transitions_total", kind="callback",
                 transition="scheduled") >= 1  # fmt: skip
    assert value(followup, "hotline_kafka_received_messages_total") >= 1
    assert any(n == "hotline_consumer_lag_messages" for n, _, _ in followup)
    assert any(n == "hotline_outbox_pending_events" and ls.get("store") == "tasks"
               for n, ls, _ in followup)  # fmt: skip

    ids = {pipeline.task["id"], pipeline.task["contact_id"], pipeline.sid, CALLER.lstrip("+")}
    for found in (intake, followup):
        for name, labels, _ in found:
            assert not {v for v in labels.values() if any(i in v for i in ids)}, name
