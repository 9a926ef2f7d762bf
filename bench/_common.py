"""Shared bits of the benchmark scripts: start a service process, summarise latencies."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from hotline_cli.processes import ROOT, ServiceProcess, use_dev_secrets

use_dev_secrets()  # benchmarks run against the development stack and its secrets


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
    """A hotline service process (the one starter, hotline_cli.processes) with its own
    topics and databases, as an async context manager."""

    def __init__(
        self, name: str, extra_env: dict[str, str] | None = None, prefix: str | None = None
    ) -> None:
        self.name = name
        self.prefix = prefix or f"bench{uuid.uuid4().hex[:8]}"
        self.process = ServiceProcess(name, {
            "HOTLINE_KAFKA_TOPIC_PREFIX": f"{self.prefix}.",
            "HOTLINE_MONGODB_DATABASE_PREFIX": f"{self.prefix}_",
            **(extra_env or {}),
        }, log_path=ROOT / ".local" / f"bench-{name}.log")  # fmt: skip
        self.url = self.process.url

    async def __aenter__(self) -> Service:
        self.process.start()
        await self.process.wait_ready(timeout=60)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.process.stop()


@contextlib.contextmanager
def profiled(service: Service) -> Iterator[None]:
    """With BENCH_PROFILE=1, sample the service with py-spy while the block runs and print
    where its time went (the functions of ours and of our libraries, inclusive and self)."""
    if not os.environ.get("BENCH_PROFILE"):
        yield
        return
    out = ROOT / ".local" / f"profile-{service.name}.txt"
    spy = subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(service.process.pid()),
         "--format", "raw", "--rate", "250", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=(ROOT / ".local" / "py-spy.log").open("w"),
    )  # fmt: skip
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
        print(profile_summary(out))


def profile_summary(path: Path, top: int = 25) -> str:
    """Collapsed stacks (py-spy --format raw) → the heaviest frames, inclusive and self."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [
            f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].rstrip(")") for f in stack.split(";")
        ]
        n = int(count)
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    lines = [f"profile of {path.name}: {total} samples"]
    lines += ["  inclusive:"] + [f"    {n / total:6.1%} {f}" for f, n in inclusive.most_common(top)]
    lines += ["  self:"] + [f"    {n / total:6.1%} {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)
