"""OpenTelemetry traces: on when the standard `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` is set,
off (no SDK, no cost) otherwise; everything else is the standard `OTEL_*` variables
(`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`, `OTEL_TRACES_SAMPLER`, …).

One trace follows a caller: the telephony webhook's server span (FastAPI's own telemetry), the events it causes (the
W3C trace context rides in each event as the CloudEvents distributed-tracing extension, so
it survives the outbox and the broker), each consumer's processing span, its database
commands and HTTP calls, the events that causes, down to the follow-up task.

PHI never goes into a span: HTTP headers and bodies are not captured, database statements
are not captured (only the command and collection), and exception events keep their type
only — `ScrubbingProcessor` drops exception messages and stack traces, whose text could
hold what a caller said.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind, Status

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig
    from opentelemetry.context import Context

tracer = trace.get_tracer("hotline")

_configured: dict[str, bool] = {}
TRACESTATE_LIMIT = 512  # the event's own bound on the extension (events.Envelope)
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def enabled_by_environment() -> bool:
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true"
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return bool(endpoint) and not disabled


def configure_tracing(service: str) -> bool:
    """Install the SDK with OTLP export and the library instrumentations, once per process;
    False (and nothing installed) when the environment does not ask for traces."""
    if _configured.get("done") or not enabled_by_environment():
        return bool(_configured.get("done"))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    install(ScrubbingProcessor(BatchSpanProcessor(OTLPSpanExporter())), service=service)
    return True


def install(processor: SpanProcessor, *, service: str) -> None:
    """The tracer provider with `processor`, and the httpx and PyMongo instrumentations."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    default_name = {"service.name": f"hotline-{service}"}
    resource = Resource.create(
        {} if os.environ.get("OTEL_SERVICE_NAME") else default_name
    )  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by Resource.create
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()
    PymongoInstrumentor().instrument(capture_statement=False)
    _configured["done"] = True


def fastapi_telemetry() -> TelemetryConfig:
    """FastAPI's native OpenTelemetry: server spans for every route but the probes and
    /metrics while tracing is on. Its log records stay off: they carry exception messages
    and validation errors with the input values (PHI). Its metrics stay off: Prometheus
    gets HTTP metrics from the instrumentator (metrics.py)."""
    return {
        "tracing": bool(_configured.get("done")),
        "logs": False,
        "metrics": False,
        "operation_spans": False,
        "exclude": lambda scope: scope.get("path") in UNTRACED_PATHS,
    }


def trace_context() -> dict[str, str]:
    """The current span's W3C trace context (`traceparent`, maybe `tracestate`), or {}."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    context = {k: v for k, v in carrier.items() if k in ("traceparent", "tracestate")}
    if len(context.get("tracestate", "")) > TRACESTATE_LIMIT:
        del context["tracestate"]  # an upstream's long vendor state is not worth an event
    return context


def context_of(traceparent: str | None, tracestate: str | None = None) -> Context | None:
    if traceparent is None:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return propagate.extract(carrier)


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Context | None = None,
    attributes: dict[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """A span (a no-op when tracing is off); ids and types only in `attributes`, never PHI."""
    with tracer.start_as_current_span(
        name, context=parent, kind=kind, attributes=attributes, record_exception=False
    ) as current:
        yield current


class ScrubbingProcessor(SpanProcessor):
    """Passes ended spans on with exception events reduced to the exception's type, and
    error status descriptions removed: exception text may quote input (PHI)."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        events = tuple(
            Event(e.name, {"exception.type": (e.attributes or {}).get("exception.type", "")},
                  timestamp=e.timestamp)
            if e.name == "exception" else e
            for e in span.events
        )  # fmt: skip
        span._events = events  # the SDK's own field; it has no setter
        if span.status.description:
            span._status = Status(span.status.status_code)
        self.inner.on_end(span)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def _on_ending(self, span: Span) -> None:
        on_ending = getattr(self.inner, "_on_ending", None)
        if on_ending is not None:
            on_ending(span)
