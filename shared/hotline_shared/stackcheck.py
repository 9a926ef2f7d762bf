"""`python -m hotline_shared.stackcheck`: wait until Kafka and the MongoDB wire answer."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

from aiokafka.admin import AIOKafkaAdminClient

from hotline_shared.mongo import make_client, ping
from hotline_shared.settings import KafkaSettings, MongoSettings


async def _kafka_ready(settings: KafkaSettings) -> None:
    admin = AIOKafkaAdminClient(**settings.client_options(), request_timeout_ms=5000)
    await admin.start()
    try:
        await admin.list_topics()
    finally:
        await admin.close()


async def wait_ready(deadline_s: float = 90.0) -> None:
    kafka, mongo = KafkaSettings(), MongoSettings()
    client = make_client(mongo)
    deadline = time.monotonic() + deadline_s
    pending: dict[str, Callable[[], Awaitable[None]]] = {
        "kafka": lambda: _kafka_ready(kafka),
        "mongodb": lambda: ping(client),
    }
    last_error: dict[str, str] = {}
    try:
        while pending and time.monotonic() < deadline:
            for name, check in list(pending.items()):
                try:
                    await asyncio.wait_for(check(), timeout=10)
                    del pending[name]
                except Exception as exc:
                    last_error[name] = f"{type(exc).__name__}: {exc}"
            if pending:
                await asyncio.sleep(0.5)
    finally:
        await client.close()
    if pending:
        for name in pending:
            print(f"stackcheck: {name} not ready: {last_error.get(name)}", file=sys.stderr)
        raise SystemExit(1)
    print(f"stackcheck: Kafka {kafka.bootstrap} and MongoDB wire {mongo.uri} ready")


if __name__ == "__main__":
    asyncio.run(wait_ready())
