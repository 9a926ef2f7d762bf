"""Test helpers: waiting on conditions with deadlines (never sleeping as synchronisation)."""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]


async def wait_until(
    probe: Callable[[], T | Awaitable[T]], *, timeout: float = 30.0, what: str = "condition"
) -> T:
    """Poll `probe` (sync or async) until it returns a truthy value; fail at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        result = probe()
        last = await result if inspect.isawaitable(result) else result  # type: ignore[assignment]
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """A hotline service as a real process (python -m hotline_<svc>) on a free port."""

    def __init__(self, service: str, env: dict[str, str], log_dir: Path) -> None:
        self.service = service
        self.port = free_port()
        self.env = {**os.environ, **env, f"HOTLINE_{service.upper()}_PORT": str(self.port)}
        self.log_path = log_dir / f"{service}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"hotline_{self.service}"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        async def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.service} exited: {self.log_path.read_text()[-3000:]}")
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(f"{self.url}/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_until(ready, timeout=timeout, what=f"{self.service} /readyz")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    expect: int,
    timeout: float = 30.0,
    settle: float = 0.0,
    strict: bool = True,
) -> list[object]:
    """Read a topic from the beginning until `expect` records arrived (fail at the deadline).

    With `settle` > 0, keep reading that long after reaching `expect`, so that extra
    (duplicate) records would be seen too.
    """
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[object] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for items in batch.values():
                records.extend(items)
        settle_until = time.monotonic() + settle
        while time.monotonic() < settle_until:
            batch = await consumer.getmany(timeout_ms=100)
            for items in batch.values():
                records.extend(items)
    finally:
        await consumer.stop()
    if strict and len(records) < expect:
        raise AssertionError(f"{topic}: expected {expect} records, got {len(records)}")
    return records
