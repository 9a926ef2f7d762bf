"""The three services as separate processes: PID files, log files, ready checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]
STATE = Path(os.environ.get("HOTLINE_LOCAL_DIR", ROOT / ".local"))
SERVICES = {"intake": 8001, "sessions": 8002, "followup": 8003}

# The demo profile: hours become seconds so a whole follow-up cycle shows in minutes.
DEMO_ENV = {
    "HOTLINE_FOLLOWUP_POLICY_PROFILE": "demo",
    "HOTLINE_INTAKE_SETTLE_SECONDS": "5",
    "HOTLINE_SESSIONS_OVERDUE_MINUTES": "1",
    "HOTLINE_SESSIONS_OVERDUE_CHECK_SECONDS": "2",
}


@dataclass(frozen=True)
class Managed:
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return STATE / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return STATE / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def start(self, env: dict[str, str]) -> None:
        if self.pid():
            return
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", f"hotline_{self.name}"],
                env={**os.environ, **env, f"HOTLINE_{self.name.upper()}_PORT": str(self.port)},
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
            )  # fmt: skip
        self.pid_file.write_text(str(proc.pid))

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + 20
        while self.pid() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.pid():
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)


def managed() -> list[Managed]:
    return [
        Managed(name, int(os.environ.get(f"HOTLINE_{name.upper()}_PORT", port)))
        for name, port in SERVICES.items()
    ]


def wait_ready(services: list[Managed], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    for service in services:
        while not service.ready():
            if service.pid() is None:
                raise RuntimeError(f"{service.name} exited; see {service.log_file}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{service.name} not ready after {timeout} s; see {service.log_file}"
                )
            time.sleep(0.2)
