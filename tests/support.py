"""Test helpers: waiting on conditions with deadlines (never sleeping as synchronisation)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from hotline_cli import processes
from hotline_cli.processes import free_port

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("HOTLINE_LOCAL_DIR", ROOT / ".local"))


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


class ServiceProcess(processes.ServiceProcess):
    """The one process starter (hotline_cli.processes), logging into the test's folder."""

    def __init__(self, service: str, env: dict[str, str], log_dir: Path) -> None:
        port = free_port()
        super().__init__(service, env, port=port, log_path=log_dir / f"{service}-{port}.log")


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


KAFKA_PID = STATE / "run" / "kafka.pid"
MONGO_PID = STATE / "run" / "mongo.pid"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return True
    return False


async def restart_stack_part(pid_file: Path, sig: int) -> None:
    """Stop what `make up` started (by its recorded PID), then start it again with `make up`."""
    assert pid_file.exists(), f"needs what `make up` started ({pid_file})"
    pid = int(pid_file.read_text())
    os.kill(pid, sig)
    await wait_until(lambda: _gone(pid), timeout=60, what=f"{pid_file.stem} stopped")
    # As a person would run it: not inside the project's virtualenv (`uv run pytest` puts
    # .venv/bin first on PATH, where `python3 -m uv` does not exist).
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PATH")} | {"PATH": path}
    started = await asyncio.to_thread(
        subprocess.run, ["make", "-s", "up"], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert started.returncode == 0, started.stderr[-2000:]


async def restart_kafka() -> None:
    await restart_stack_part(KAFKA_PID, signal.SIGTERM)


async def restart_database() -> None:
    """SIGKILL: the database gets no chance to flush; acknowledged writes must survive."""
    await restart_stack_part(MONGO_PID, signal.SIGKILL)


class Recorder:
    """An HTTP endpoint on loopback that records every POST it receives (path, headers, raw
    body); `answer(n, body)` decides the reply to the n-th request (default: 204). It stands
    in for a supervisor's alert webhook, Twilio's Messages API and the like."""

    def __init__(self, answer: Callable[[int, bytes], tuple[int, bytes]] | None = None) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        self.requests: list[dict[str, Any]] = []
        self.calls = 0
        recorder, reply = self, answer or (lambda _n, _body: (204, b""))

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.calls += 1
                status, content = reply(recorder.calls, body)
                recorder.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "raw": body,
                        "status": status,
                    }
                )
                self.send_response(status)
                if content:
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["status"] < 300]

    def json(self) -> list[Any]:
        """The bodies accepted so far, as JSON."""
        import json

        return [json.loads(r["raw"]) for r in self.accepted()]

    def events(self, event_type: str) -> list[dict[str, Any]]:
        """Accepted CloudEvents (alerts) of one type."""
        return [e for e in self.json() if e.get("type") == event_type]

    def close(self) -> None:
        self.server.shutdown()


@contextlib.asynccontextmanager
async def running(
    *services: str, env: dict[str, str], log_dir: Path
) -> AsyncIterator[dict[str, ServiceProcess]]:
    """Services as real processes sharing `env` (topics, databases, centers), ready, then
    stopped."""
    started = {name: ServiceProcess(name, env, log_dir) for name in services}
    for process in started.values():
        process.start()
    try:
        for process in started.values():
            await process.wait_ready()
        yield started
    finally:
        for process in started.values():
            process.stop()


def isolated_env() -> dict[str, str]:
    """Topics and databases of their own (a unique prefix)."""
    prefix = unique("t")
    return {
        "HOTLINE_KAFKA_TOPIC_PREFIX": f"{prefix}.",
        "HOTLINE_MONGODB_DATABASE_PREFIX": f"{prefix}_",
    }
