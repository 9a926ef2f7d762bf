"""Has sessions heard every risk fact published for a contact so far? (The close-before-risk
race: a screening submitted a moment before the close may still be on its way.)

Intake publishes `risk.assessed` and `risk.escalated` (acks=all) before it answers the
counselor, keyed by contact id. So when a close arrives, every risk fact that precedes it is
below the current end offset of the contact's partition of the risk topic, and sessions'
risk consumer group commits an offset only after the fact is stored. The close waits until
the committed offset reaches that end offset: then the contact's latest risk is known.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner
from hotline_shared.settings import KafkaSettings


class RiskFactsLag(Exception):
    """The risk consumer did not catch up in time (it is down, or far behind)."""


class RiskFeed:
    def __init__(self, settings: KafkaSettings, *, topic: str, group_id: str) -> None:
        self.settings = settings
        self.topic = f"{settings.topic_prefix}{topic}"
        self.group_id = group_id
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._partitioner = DefaultPartitioner()

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(**self.settings.client_options())
        self._admin = AIOKafkaAdminClient(**self.settings.client_options())
        await self._consumer.start()
        await self._admin.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()

    async def _partition(self, contact_id: str) -> TopicPartition:
        assert self._consumer is not None, "RiskFeed.start() first"
        partitions = self._consumer.partitions_for_topic(self.topic)
        if not partitions:  # first look at the topic: no public call loads one topic's metadata
            await self._consumer._client.force_metadata_update()
            partitions = self._consumer.partitions_for_topic(self.topic)
        if not partitions:
            raise RiskFactsLag(f"no metadata for {self.topic}")
        ordered = sorted(partitions)
        chosen = self._partitioner(contact_id.encode(), ordered, ordered)
        return TopicPartition(self.topic, chosen)

    async def wait_caught_up(self, contact_id: str, *, timeout: float) -> None:
        """Return once sessions has stored every risk fact published for the contact up to
        now; raise RiskFactsLag at the deadline."""
        assert self._consumer is not None and self._admin is not None
        tp = await self._partition(contact_id)
        end = (await self._consumer.end_offsets([tp]))[tp]
        deadline = time.monotonic() + timeout
        while True:
            committed = await self._admin.list_consumer_group_offsets(
                self.group_id, partitions=[tp]
            )
            done = committed.get(tp)
            if end == 0 or (done is not None and done.offset >= end):
                return
            if time.monotonic() > deadline:
                raise RiskFactsLag(f"risk facts behind on {tp.topic}[{tp.partition}]")
            await asyncio.sleep(0.05)  # polling the group's progress, up to the deadline
