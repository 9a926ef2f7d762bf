"""Cost over time: the pipeline of bench/pipeline.py (abandoned Twilio call → callback task)
run long, sampling each service process's resident memory and CPU time from /proc.

    uv run python bench/soak.py --minutes 20 --rate 20        # memory flat (±10 %) over a soak
    uv run python bench/soak.py --linear 1000 10000 --rate 50  # CPU seconds per contact

The soak prints each service's RSS after the first minute (the warm-up: caches, JIT-free
but lazily imported code, connection pools) and at the end, with the drift between them.
The linear run prints CPU seconds per contact at each size; the issue's target is that they
differ by less than 20 %. In the same run, the raw ceiling of the parts underneath.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from dataclasses import dataclass, field

from _common import Service, spread
from pipeline import ceiling, raw_ceiling, run

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Samples:
    """(seconds since start, RSS in MiB, CPU seconds) of one process."""

    pid: int
    points: list[tuple[float, float, float]] = field(default_factory=list)

    def take(self, since: float) -> None:
        with open(f"/proc/{self.pid}/status") as status:
            rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
        self.points.append((time.monotonic() - since, rss_kib / 1024, cpu))

    def cpu(self) -> float:
        return self.points[-1][2] if self.points else 0.0


async def sample(processes: dict[str, Samples], since: float, stop: asyncio.Event) -> None:
    """Every 10 s; a line a minute as it goes (a run cut off still says what it saw)."""
    while not stop.is_set():
        for samples in processes.values():
            samples.take(since)
        points = next(iter(processes.values())).points
        if len(points) % 6 == 1:
            print(f"  {points[-1][0] / 60:5.1f} min: " + ", ".join(
                f"{name} RSS {s.points[-1][1]:.1f} MiB CPU {s.points[-1][2]:.1f} s"
                for name, s in processes.items()), flush=True)  # fmt: skip
        with contextlib.suppress(TimeoutError):  # the sampling period
            await asyncio.wait_for(stop.wait(), timeout=10)


async def soak(minutes: float, rate: float) -> None:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    contacts = int(minutes * 60 * rate)
    async with Service("intake", prefix=prefix) as intake, \
            Service("followup", prefix=prefix) as followup:  # fmt: skip
        processes = {s.name: Samples(s.process.pid() or 0) for s in (intake, followup)}
        start, stop = time.monotonic(), asyncio.Event()
        sampler = asyncio.create_task(sample(processes, start, stop))
        seconds, latencies = await run(intake, f"{prefix}_hotline_followup", contacts, rate)
        stop.set()
        await sampler
    print(f"soak: {contacts} contacts at {rate}/s over {seconds / 60:.1f} min "
          f"({len(latencies)} callback tasks stored; webhook to task {spread(latencies)})")  # fmt: skip
    for name, samples in processes.items():
        warm = [p for p in samples.points if p[0] >= 60] or samples.points
        first, last = warm[0][1], warm[-1][1]
        rss = [p[1] for p in warm]
        print(f"  {name:9} RSS after 1 min {first:7.1f} MiB, at the end {last:7.1f} MiB, "
              f"min {min(rss):7.1f}, max {max(rss):7.1f} ({len(rss)} samples): drift {last / first - 1:+.1%} "
              f"({'flat' if abs(last / first - 1) <= 0.10 else 'NOT flat'} within ±10 %)")  # fmt: skip
    # The same run read as the linear-cost check: CPU per contact over the first 1,000
    # contacts offered and over the first 10,000 (cumulative, from the first sample).
    sizes = [n for n in (1000, 10_000) if n <= contacts]
    if len(sizes) == 2:
        for name, samples in processes.items():
            start_cpu = samples.points[0][2]
            per = [(_cpu_at(samples, n / rate) - start_cpu) / n * 1000 for n in sizes]
            change = per[1] / per[0] - 1
            print(f"  {name:9} CPU per contact: first 1,000 {per[0]:.2f} ms, first 10,000 {per[1]:.2f} ms: "
                  f"{change:+.1%} ({'linear' if abs(change) < 0.20 else 'NOT linear'} within 20 %)")  # fmt: skip
    print(f"raw ceiling, same run (the soak offers {rate * 4:.0f} events/s):")
    print("\n".join(ceiling(4000, *await raw_ceiling(prefix, 4000))))


def _cpu_at(samples: Samples, seconds: float) -> float:
    """CPU seconds at the first sample taken at or after `seconds` into the run."""
    return next((p[2] for p in samples.points if p[0] >= seconds), samples.cpu())


async def linear(sizes: list[int], rate: float) -> None:
    per_contact: dict[int, dict[str, float]] = {}
    for size in sizes:
        prefix = f"bench{uuid.uuid4().hex[:8]}"
        async with Service("intake", prefix=prefix) as intake, \
                Service("followup", prefix=prefix) as followup:  # fmt: skip
            processes = {s.name: Samples(s.process.pid() or 0) for s in (intake, followup)}
            for samples in processes.values():
                samples.take(0)
            before = {name: s.cpu() for name, s in processes.items()}
            seconds, latencies = await run(intake, f"{prefix}_hotline_followup", size, rate)
            for samples in processes.values():
                samples.take(0)
            per_contact[size] = {n: (s.cpu() - before[n]) / size for n, s in processes.items()}
        print(f"{size} contacts at {rate}/s in {seconds:.0f} s ({len(latencies)} tasks): CPU ms "
              f"per contact " + ", ".join(f"{n} {v * 1000:.2f}" for n, v in per_contact[size].items()))  # fmt: skip
        print("\n".join(ceiling(size * 4, *await raw_ceiling(prefix, size * 4))))
    small, large = min(sizes), max(sizes)
    for name in per_contact[small]:
        change = per_contact[large][name] / per_contact[small][name] - 1
        print(f"  {name}: CPU per contact at {large} vs {small}: {change:+.1%} "
              f"({'linear' if abs(change) < 0.20 else 'NOT linear'} within 20 %)")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=20.0, help="offered contacts/s")
    parser.add_argument("--linear", type=int, nargs="+", help="sizes: CPU per contact at each")
    args = parser.parse_args()
    if args.linear:
        await linear(args.linear, args.rate)
    else:
        await soak(args.minutes, args.rate)


if __name__ == "__main__":
    asyncio.run(main())
