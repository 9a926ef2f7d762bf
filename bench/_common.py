"""Shared bits of the benchmark scripts: start a service process, summarise latencies,
offer work on a fixed schedule (an open loop)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
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


def spread(latencies_ms: list[float]) -> str:
    """p50, p99 and max of latencies in ms (what an open-loop run reports)."""
    if not latencies_ms:
        return "no samples"
    return (f"p50 {percentile(latencies_ms, 50):7.2f} ms  p99 {percentile(latencies_ms, 99):7.2f} ms  "
            f"max {max(latencies_ms):8.2f} ms")  # fmt: skip


async def open_loop(
    phases: Sequence[tuple[float, float]], fire: Callable[[int, float], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Offer work on a fixed schedule, independent of the responses: for each (rate/s,
    seconds) phase, rate x seconds starts evenly spaced, each `fire(n, scheduled)` in its own
    task (`scheduled` is the time.perf_counter() it was due). A start the client is late for
    goes out at once, still carrying its scheduled time, so a stall shows in latencies
    measured from it (no coordinated omission). Returns, once every started task finished,
    the schedule's start and how late each start went out (ms), the sender's own lag."""
    offsets, at = [], 0.0
    for rate, seconds in phases:
        offsets += [at + k / rate for k in range(round(rate * seconds))]
        at += seconds
    tasks: set[asyncio.Task[None]] = set()
    lag: list[float] = []
    start = time.perf_counter()
    for n, offset in enumerate(offsets):
        due = start + offset
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        lag.append((time.perf_counter() - due) * 1000)
        task = asyncio.create_task(fire(n, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.gather(*tasks)
    return start, lag


class Service:
    """A hotline service process (the one starter, hotline_cli.processes) with its own
    topics and databases, as an async context manager."""

    def __init__(
        self, name: str, extra_env: dict[str, str] | None = None, prefix: str | None = None,
        replica: int = 0,
    ) -> None:  # fmt: skip
        self.name = name
        self.prefix = prefix or f"bench{uuid.uuid4().hex[:8]}"
        log_name = f"bench-{name}-{replica}.log" if replica else f"bench-{name}.log"
        self.process = ServiceProcess(name, {
            "HOTLINE_KAFKA_TOPIC_PREFIX": f"{self.prefix}.",
            "HOTLINE_MONGODB_DATABASE_PREFIX": f"{self.prefix}_",
            f"HOTLINE_{name.upper()}_GROUP_ID": f"{self.prefix}-{name}",  # no other run's group
            **(extra_env or {}),
        }, log_path=ROOT / ".local" / log_name)  # fmt: skip
        self.url = self.process.url

    async def __aenter__(self) -> Service:
        self.process.start()
        await self.process.wait_ready(timeout=180)
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
