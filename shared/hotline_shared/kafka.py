"""The one Kafka factory: applies DESIGN.md §3 so no service has to remember it.

- producer: idempotent (acks=all), every publish awaited;
- consumer: a group id, offsets committed only after the handler returned (NACK_ON_ERROR),
  reading from the earliest offset for a new group;
- a handler failing on infrastructure (MongoDB or Kafka unreachable, a write conflict that
  did not resolve) is retried with capped backoff until the dependency is back: that is no
  reason to dead-letter anything;
- a handler failing otherwise (bad schema, domain rejection, a bug) is retried `retries`
  times with backoff, then the original bytes, headers and the error go to hotline.dlq.v1
  and the partition moves on;
- every topic keyed by contact_id (the event's subject);
- events go out in the CloudEvents Kafka binding's structured mode (events.py);
- subscribers are typed: a handler's first parameter names the events it takes (a topic
  union from events.py), which FastStream documents in the service's AsyncAPI; the decoder
  reads tolerantly and skips a type the handler does not take;
- each handled event continues the trace its producer started (tracing.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import typing
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import httpx
import structlog
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.exceptions import AckMessage
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.security import BaseSecurity, SASLScram256, SASLScram512
from faststream.specification import AsyncAPI
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure, OperationFailure, WTimeoutError

from hotline_shared import metrics, tracing
from hotline_shared.events import (
    ALL_TOPICS,
    CONTENT_TYPE,
    DLQ_TOPIC,
    TOPIC_UNIONS,
    Envelope,
    UnknownEventType,
    parse_event,
    types_in,
)
from hotline_shared.mongo import Conflict
from hotline_shared.settings import KafkaSettings

log = structlog.get_logger(__name__)

E = TypeVar("E")
Handler = Callable[[E], Awaitable[None]]

MAX_TRANSIENT_BACKOFF = 5.0  # seconds between tries while a dependency is down
# Dead letters are operational records: kept 90 days (the default operational retention),
# then Kafka deletes them. They carry event bodies, which hold no PHI.
DLQ_CONFIG = {"retention.ms": str(90 * 24 * 3600 * 1000)}


def is_transient(exc: BaseException) -> bool:
    """Infrastructure trouble that goes away by itself: retry, never dead-letter."""
    if isinstance(exc, ConnectionFailure | WTimeoutError | KafkaError | Conflict | OSError):
        return True  # ConnectionFailure covers AutoReconnect, timeouts, server selection
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, OperationFailure):
        return exc.has_error_label("RetryableWriteError") or exc.code in (91, 189, 11600, 11602)
    return False


def broker_security(settings: KafkaSettings) -> BaseSecurity | None:
    """FastStream's form of the connection's TLS and SASL settings."""
    context = settings.ssl_context()
    if settings.security_protocol.startswith("SASL"):
        assert settings.sasl_username is not None and settings.sasl_password is not None
        scram = SASLScram512 if settings.sasl_mechanism == "SCRAM-SHA-512" else SASLScram256
        return scram(settings.sasl_username, settings.sasl_password.get_secret_value(),
                     ssl_context=context, use_ssl=context is not None)  # fmt: skip
    return BaseSecurity(ssl_context=context, use_ssl=True) if context is not None else None


class EventBus:
    """A service's connection to Kafka: publish events, subscribe handlers."""

    def __init__(self, settings: KafkaSettings, *, client_id: str) -> None:
        self.settings = settings
        self.client_id = client_id
        self.broker = KafkaBroker(
            settings.bootstrap,
            security=broker_security(settings),
            client_id=client_id,
            enable_idempotence=True,  # forces acks=all: never lose an acknowledged event
            request_timeout_ms=30_000,
            graceful_timeout=15.0,
            log_level=logging.DEBUG,  # a line per message received/processed: not at INFO
            middlewares=[
                KafkaPrometheusMiddleware(
                    registry=REGISTRY, app_name=client_id, metrics_prefix="hotline_kafka"
                )
            ],
        )

    def topic(self, base: str) -> str:
        return f"{self.settings.topic_prefix}{base}"

    async def start(self) -> None:
        await ensure_topics(self.settings)
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()

    async def publish(self, event: Envelope) -> None:
        """Publish and wait for the broker's acknowledgement (never fire-and-forget): the
        binding's structured mode, the one header being the content type."""
        topic = self.topic(event.topic)
        with tracing.span(f"send {event.topic}", kind=SpanKind.PRODUCER,
                          parent=tracing.context_of(event.traceparent, event.tracestate),
                          attributes=_span_attributes(event, topic)):  # fmt: skip
            await self.broker.publish(
                event.model_dump_json().encode(),
                topic=topic,
                key=event.subject.encode(),
                headers={"content-type": CONTENT_TYPE},
            )
        metrics.count_published(event)

    async def partition_count(self, topic: str) -> int:
        """How many partitions the (full-named) topic has."""
        admin = AIOKafkaAdminClient(**self.settings.client_options())
        await admin.start()
        try:
            [described] = await admin.describe_topics([topic])
            return len(described["partitions"])
        finally:
            await admin.close()

    def produces(self, *topics: str) -> None:
        """Declare the topics this service publishes to: the send operations of its AsyncAPI
        document, each with the topic's event union as payload."""
        for topic in topics:
            self.broker.publisher(
                self.topic(topic),
                title=f"{self.client_id}:{topic}",
                schema=TOPIC_UNIONS[topic],
                description=f"CloudEvents 1.0, Kafka binding in structured mode "
                f"(content-type {CONTENT_TYPE}), keyed by contact_id.",
            )

    def asyncapi(self, *, title: str) -> dict[str, Any]:
        """This service's AsyncAPI 3 document: what it consumes and what it publishes."""
        spec = AsyncAPI(self.broker, title=title, version="1", schema_version="3.0.0")
        document: dict[str, Any] = json.loads(spec.to_specification().to_json())
        return document

    def subscribe(self, topic: str, *, group_id: str, handler: Handler[Any],
                  listener: ConsumerRebalanceListener | None = None) -> None:  # fmt: skip
        """Register a reliable consumer of `topic`; must be called before start(). The
        handler's first parameter is annotated with the events it takes (a topic union);
        `listener` hears which of the topic's partitions this replica is given."""
        consumer = _ReliableConsumer(self, group_id=group_id, handler=handler)
        self.broker.subscriber(
            self.topic(topic),
            group_id=group_id,
            listener=listener,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            max_poll_interval_ms=600_000,
            decoder=consumer.decode,
            title=group_id,
            description=inspect.getdoc(handler),
        )(consumer.typed_call())


class _ReliableConsumer:
    def __init__(self, bus: EventBus, *, group_id: str, handler: Handler[Any]) -> None:
        self.bus = bus
        self.group_id = group_id
        self.handler = handler
        first = next(iter(inspect.signature(handler).parameters))
        self.accepts: Any = typing.get_type_hints(handler, include_extras=True)[first]
        self.classes = types_in(self.accepts)
        if not self.classes:
            raise TypeError(f"{handler.__qualname__}: annotate its event parameter")

    def typed_call(self) -> Callable[..., Awaitable[None]]:
        """What FastStream calls: the event (typed, for the AsyncAPI payload) and the record."""

        async def consume(event: Any, msg: KafkaMessage) -> None:
            await self.handle(msg, event)

        consume.__name__ = self.handler.__name__
        consume.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter("event", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                  annotation=self.accepts),
                inspect.Parameter("msg", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                  annotation=KafkaMessage),
            ],
            return_annotation=None,
        )  # fmt: skip
        consume.__annotations__ = {"event": self.accepts, "msg": KafkaMessage, "return": None}
        return consume

    async def decode(self, msg: KafkaMessage, _default: Any) -> Envelope:
        """The tolerant reader. A type this handler does not take, or this version does not
        know, is skipped; bytes that are no event are dead-lettered; both are acknowledged."""
        try:
            event = parse_event(msg.body)
        except UnknownEventType as exc:
            log.info("event.skipped_unknown_type", consumer=self.group_id, type=str(exc))
            raise AckMessage from None
        except (ValidationError, ValueError) as exc:
            await self._dead_letter(msg, f"unparseable event: {_describe(exc)}")
            raise AckMessage from None
        if not isinstance(event, self.classes):
            raise AckMessage  # another consumer's business
        return event

    async def handle(self, msg: KafkaMessage, event: Envelope) -> None:
        record: Any = msg.raw_message
        self._observe_lag(msg, record)
        with tracing.span(f"process {event.type}", kind=SpanKind.CONSUMER,
                          parent=tracing.context_of(event.traceparent, event.tracestate),
                          attributes={**_span_attributes(event, record.topic),
                                      "messaging.consumer.group.name": self.group_id}):  # fmt: skip
            await self._handle_with_retries(msg, event)

    async def _handle_with_retries(self, msg: KafkaMessage, event: Envelope) -> None:
        attempts = self.bus.settings.retries
        attempt, outage = 1, 0
        while True:
            try:
                await self.handler(event)
                return
            except Exception as exc:
                if is_transient(exc):
                    outage += 1
                    log.warning("event.dependency_unavailable", consumer=self.group_id,
                                event_id=event.id, type=event.type, tries=outage,
                                error=type(exc).__name__)  # fmt: skip
                    base = self.bus.settings.retry_backoff_ms / 1000
                    await asyncio.sleep(min(MAX_TRANSIENT_BACKOFF, base * 2 ** min(outage, 10)))
                    continue
                log.warning(
                    "event.handler_failed",
                    consumer=self.group_id,
                    event_id=event.id,
                    type=event.type,
                    attempt=attempt,
                    error=type(exc).__name__,
                )
                if attempt >= attempts:
                    await self._dead_letter(msg, _describe(exc))
                    return
                backoff = self.bus.settings.retry_backoff_ms / 1000 * 2 ** (attempt - 1)
                await asyncio.sleep(backoff)  # backoff between retries, not synchronisation
                attempt += 1

    def _observe_lag(self, msg: KafkaMessage, record: Any) -> None:
        """Records between this one and the partition's end, as the consumer last saw it."""
        highwater = getattr(msg.consumer, "highwater", None)
        try:  # a gauge never fails a handler (highwater asserts the partition is assigned)
            end = highwater(TopicPartition(record.topic, record.partition)) if highwater else None
        except Exception:
            return
        if end is not None:
            metrics.CONSUMER_LAG.labels(
                consumer=self.group_id, topic=record.topic, partition=str(record.partition)
            ).set(max(0, end - record.offset - 1))

    async def _dead_letter(self, msg: KafkaMessage, error: str) -> None:
        record: Any = msg.raw_message
        headers = {k: v for k, v in (msg.headers or {}).items() if isinstance(v, str)}
        headers.update(
            {
                "hotline-dlq-error": error[:1000],
                "hotline-dlq-consumer": self.group_id,
                "hotline-dlq-topic": record.topic,
                "hotline-dlq-partition": str(record.partition),
                "hotline-dlq-offset": str(record.offset),
            }
        )
        await self.bus.broker.publish(
            msg.body, topic=self.bus.topic(DLQ_TOPIC), key=record.key, headers=headers
        )
        metrics.DEAD_LETTERS.labels(consumer=self.group_id).inc()
        log.error(
            "event.dead_lettered",
            consumer=self.group_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=error[:200],
        )


def _span_attributes(event: Envelope, topic: str) -> dict[str, str]:
    """Messaging semantic conventions: ids and types, never data (PHI rule)."""
    return {"messaging.system": "kafka", "messaging.destination.name": topic,
            "messaging.message.id": event.id, "cloudevents.event_type": event.type,
            "cloudevents.event_id": event.id, "hotline.center_id": event.centerid}  # fmt: skip


def _describe(exc: BaseException) -> str:
    # Validation errors name fields, never echo values (values may hold PHI).
    if isinstance(exc, ValidationError):
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        return f"ValidationError: {fields}"
    return f"{type(exc).__name__}: {str(exc)[:300]}"


async def ensure_topics(settings: KafkaSettings, topics: Iterable[str] = ALL_TOPICS) -> None:
    """Create hotline's topics with the configured partitions (already existing is fine)."""
    admin = AIOKafkaAdminClient(**settings.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [f"{settings.topic_prefix}{t}" for t in topics]
        new = [
            NewTopic(
                name,
                settings.partitions,
                settings.replication_factor,
                topic_configs=DLQ_CONFIG if name.endswith(DLQ_TOPIC) else None,
            )
            for name in wanted
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # another replica was first
                await admin.create_topics(new)
    finally:
        await admin.close()
