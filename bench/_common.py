"""Shared bits of the benchmark scripts: start a service process, summarise latencies."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(label: str, count: int, seconds: float, latencies_ms: list[float] | None = None) -> str:
    line = f"{label:<44} {count:>7} in {seconds:6.2f} s = {count / seconds:9.1f}/s"
    if latencies_ms:
        line += f"   p50 {percentile(latencies_ms, 50):7.2f} ms  p99 {percentile(latencies_ms, 99):7.2f} ms"
    return line


class Service:
    """A hotline service process on a free port with its own topics and databases."""

    def __init__(
        self, name: str, extra_env: dict[str, str] | None = None, prefix: str | None = None
    ) -> None:
        self.name = name
        self.prefix = prefix or f"bench{uuid.uuid4().hex[:8]}"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.env = {
            **os.environ,
            "HOTLINE_KAFKA_TOPIC_PREFIX": f"{self.prefix}.",
            "HOTLINE_MONGODB_DATABASE_PREFIX": f"{self.prefix}_",
            f"HOTLINE_{name.upper()}_PORT": str(self.port),
            **(extra_env or {}),
        }
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> Service:
        log = open(ROOT / ".local" / f"bench-{self.name}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", f"hotline_{self.name}"], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)  # fmt: skip
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited; see .local/bench-{self.name}.log")
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready")

    async def __aexit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
