"""Traces carry ids and types, never PHI; events continue the trace they were made in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hotline_shared import tracing
from hotline_shared.events import ContactStarted, new_event
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.factories import T0, sample_event

PHI = "my number is 555-0100 and I want to die"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(tracing.ScrubbingProcessor(SimpleSpanProcessor(exporter)))
    tracer = provider.get_tracer("test")
    original = tracing.tracer
    tracing.tracer = tracer  # type: ignore[assignment]
    try:
        yield exporter
    finally:
        tracing.tracer = original


def test_exception_events_keep_the_type_and_lose_the_text(
    exported: InMemorySpanExporter,
) -> None:
    with pytest.raises(ValueError), tracing.span("handle") as span:
        try:
            raise ValueError(PHI)
        except ValueError as exc:
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
            raise
    [finished] = exported.get_finished_spans()
    [event] = finished.events
    assert dict(event.attributes or {}) == {"exception.type": "ValueError"}
    assert finished.status.status_code == trace.StatusCode.ERROR
    assert not finished.status.description
    assert PHI not in repr(finished.to_json())


def test_an_event_made_inside_a_span_carries_its_trace_context(
    exported: InMemorySpanExporter,
) -> None:
    data = sample_event("hotline.contact.started.v1").data
    with tracing.span("webhook") as span:
        inside = new_event(ContactStarted, data=data, center_id="center-01", source="hotline/t",
                           time=T0, cause=("x",))  # fmt: skip
    context = span.get_span_context()
    assert inside.traceparent is not None
    assert inside.traceparent.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    # and a consumer's span continues it: same trace, the producer's span as parent
    with tracing.span("process", parent=tracing.context_of(inside.traceparent)):
        pass
    process = next(s for s in exported.get_finished_spans() if s.name == "process")
    assert process.context.trace_id == context.trace_id
    assert process.parent is not None and process.parent.span_id == context.span_id


def test_untraced_events_carry_no_context() -> None:
    data = sample_event("hotline.contact.started.v1").data
    event = new_event(ContactStarted, data=data, center_id="center-01", source="hotline/t",
                      time=T0, cause=("x",))  # fmt: skip
    assert event.traceparent is None and tracing.context_of(None) is None


def test_tracing_is_off_unless_an_otlp_endpoint_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing.enabled_by_environment()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing.enabled_by_environment()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not tracing.enabled_by_environment()


def test_fastapis_own_telemetry_logs_nothing_and_skips_the_probes() -> None:
    """FastAPI's native log records carry exception messages and validation input (PHI)."""
    config = tracing.fastapi_telemetry()
    assert config["logs"] is False
    exclude = config["exclude"]
    assert exclude is not None
    assert all(exclude({"path": p}) for p in ("/healthz", "/readyz", "/metrics"))
    assert not exclude({"path": "/v1/telephony/twilio/center-01"})


def test_a_long_upstream_tracestate_is_dropped_not_an_error(
    exported: InMemorySpanExporter,
) -> None:
    """W3C allows more vendor state than an event carries: the event keeps the trace."""
    upstream = tracing.context_of(
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ",".join(f"v{n}={'x' * 200}" for n in range(5)),
    )
    data = sample_event("hotline.contact.started.v1").data
    with tracing.span("webhook", parent=upstream):
        event = new_event(ContactStarted, data=data, center_id="center-01", source="hotline/t",
                          time=T0, cause=("x",))  # fmt: skip
    assert event.traceparent is not None and "0af7651916cd43dd8448eb211c80319c" in event.traceparent
    assert event.tracestate is None
