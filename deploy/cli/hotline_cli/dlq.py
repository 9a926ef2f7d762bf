"""Dead letters: read hotline.dlq.v1 from the beginning, and replay chosen entries to the
topic they came from (consumers drop an id they have seen, so a replay is safe)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import IllegalStateError
from hotline_shared.events import DLQ_TOPIC
from hotline_shared.settings import KafkaSettings


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    partition: int
    topic: str  # where it came from
    consumer: str
    error: str
    event_id: str | None
    event_type: str | None
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def _describe(value: bytes) -> tuple[str | None, str | None]:
    try:
        body = json.loads(value)
        return str(body.get("id")), str(body.get("type"))
    except (ValueError, AttributeError):
        return None, None


async def read(settings: KafkaSettings) -> list[DeadLetter]:
    """Every dead letter on the topic now (reads up to the end offsets taken at the start)."""
    topic = f"{settings.topic_prefix}{DLQ_TOPIC}"
    consumer = AIOKafkaConsumer(topic, **settings.client_options(), auto_offset_reset="earliest",
                                enable_auto_commit=False)  # fmt: skip
    letters: list[DeadLetter] = []
    try:
        await consumer.start()  # inside: a broker that cannot be reached still closes it
        partitions = [
            TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or set()
        ]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        while [tp for tp, end in ends.items() if await _position(consumer, tp) < end]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    headers = {k: v.decode(errors="replace") for k, v in r.headers}
                    event_id, event_type = _describe(r.value or b"")
                    letters.append(DeadLetter(
                        offset=r.offset, partition=r.partition,
                        topic=headers.get("hotline-dlq-topic", ""),
                        consumer=headers.get("hotline-dlq-consumer", ""),
                        error=headers.get("hotline-dlq-error", ""), event_id=event_id,
                        event_type=event_type, key=r.key, value=r.value or b"",
                        headers=tuple(r.headers),
                    ))  # fmt: skip
    finally:
        await consumer.stop()
    return sorted(letters, key=lambda d: (d.partition, d.offset))


async def _position(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int:
    try:
        return int(await consumer.position(tp))
    except IllegalStateError:  # not assigned yet
        return -1


async def replay(settings: KafkaSettings, letters: list[DeadLetter]) -> int:
    """Publish each letter's original bytes to its original topic (without the DLQ headers)."""
    producer = AIOKafkaProducer(**settings.client_options(), enable_idempotence=True)
    try:
        await producer.start()
        for letter in letters:
            headers = [(k, v) for k, v in letter.headers if not k.startswith("hotline-dlq-")]
            await producer.send_and_wait(
                letter.topic, letter.value, key=letter.key, headers=headers
            )
    finally:
        await producer.stop()
    return len(letters)
