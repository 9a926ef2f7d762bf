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
- every topic keyed by contact_id (the event's subject).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx
import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.security import BaseSecurity, SASLScram256, SASLScram512
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure, OperationFailure, WTimeoutError

from hotline_shared.events import ALL_TOPICS, DLQ_TOPIC, Envelope, UnknownEventType, parse_event
from hotline_shared.mongo import Conflict
from hotline_shared.settings import KafkaSettings

log = structlog.get_logger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]

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
        )

    def topic(self, base: str) -> str:
        return f"{self.settings.topic_prefix}{base}"

    async def start(self) -> None:
        await ensure_topics(self.settings)
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()

    async def publish(self, event: Envelope) -> None:
        """Publish and wait for the broker's acknowledgement (never fire-and-forget)."""
        await self.broker.publish(
            event.model_dump_json().encode(),
            topic=self.topic(event.topic),
            key=event.subject.encode(),
            headers={"ce_type": event.type, "ce_id": event.id, "content-type": "application/json"},
        )

    def subscribe(self, *topics: str, group_id: str, handler: Handler) -> None:
        """Register a reliable consumer; must be called before start()."""
        consumer = _ReliableConsumer(self, group_id=group_id, handler=handler)
        self.broker.subscriber(
            *(self.topic(t) for t in topics),
            group_id=group_id,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            max_poll_interval_ms=600_000,
            title=f"{group_id}:{','.join(topics)}",
        )(consumer.consume)


class _ReliableConsumer:
    def __init__(self, bus: EventBus, *, group_id: str, handler: Handler) -> None:
        self.bus = bus
        self.group_id = group_id
        self.handler = handler

    async def consume(self, msg: KafkaMessage) -> None:
        body: bytes = msg.body
        try:
            event = parse_event(body)
        except UnknownEventType as exc:
            log.info("event.skipped_unknown_type", consumer=self.group_id, type=str(exc))
            return
        except (ValidationError, ValueError) as exc:
            await self._dead_letter(msg, f"unparseable event: {_describe(exc)}")
            return
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
        log.error(
            "event.dead_lettered",
            consumer=self.group_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=error[:200],
        )


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
