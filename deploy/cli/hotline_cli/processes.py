"""The one way to start a hotline service as a process (`python -m hotline_<svc>`), used by
the CLI, the tests and the benchmarks: a port, a log file, an optional PID file (the CLI's
services outlive the command that started them), ready checks, and stop/kill by PID."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]
STATE = Path(os.environ.get("HOTLINE_LOCAL_DIR", ROOT / ".local"))
SERVICES = {"intake": 8001, "sessions": 8002, "followup": 8003, "console": 8004}

# The demo profile: hours become seconds so a whole follow-up cycle shows in minutes.
DEMO_ENV = {
    "HOTLINE_FOLLOWUP_POLICY_PROFILE": "demo",
    "HOTLINE_INTAKE_SETTLE_SECONDS": "5",
    "HOTLINE_SESSIONS_OVERDUE_MINUTES": "1",
    "HOTLINE_SESSIONS_OVERDUE_CHECK_SECONDS": "2",
    "HOTLINE_DEV_LOGIN": "1",  # the console's pick-a-user sign-in
}


DEV_ENV_FILE = ROOT / "deploy" / "local" / "dev.env"


class AddressError(ValueError):
    """A HOTLINE_<SVC>_PORT or HOTLINE_<SVC>_URL that cannot be used."""


def service_port(service: str) -> int:
    """The port `hotline services up` starts a service on: HOTLINE_<SVC>_PORT (the variable the
    service itself reads), else its well-known port (SERVICES)."""
    name = f"HOTLINE_{service.upper()}_PORT"
    value = os.environ.get(name) or str(SERVICES[service])
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise AddressError(f"{name}={value!r} is not a port number")
    return int(value)


def service_url(service: str) -> str:
    """Where a service answers, for the commands that call one (simulate, report):
    HOTLINE_<SVC>_URL when set (several replicas: a comma-separated list), else this machine on
    service_port(), where `services up` starts it."""
    name = f"HOTLINE_{service.upper()}_URL"
    value = os.environ.get(name, "").strip()
    if not value:
        return f"http://127.0.0.1:{service_port(service)}"
    urls = [url.strip().rstrip("/") for url in value.split(",")]
    bad = [url for url in urls if not url.startswith(("http://", "https://"))]
    if bad:
        raise AddressError(f"{name}: {bad[0]!r} is not an http(s) URL")
    return ",".join(urls)


def use_dev_secrets() -> None:
    """The development secrets (deploy/local/dev.env) for this process and what it starts,
    where the environment does not set them: the local stack is development by definition.
    Services themselves have no defaults and refuse to start without them."""
    for line in DEV_ENV_FILE.read_text().splitlines():
        name, sep, value = line.partition("=")
        if not sep or line.lstrip().startswith("#"):
            continue
        if name == "HOTLINE_CENTERS_FILE":
            value = str(ROOT / value)  # relative to the repository, wherever we run from
        os.environ.setdefault(name.strip(), value.strip())


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free now and not handed out before by this process: the kernel may offer a
    just-released port again, and two services built before either starts would collide."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class ServiceProcess:
    """One service process. Without `pid_file` it belongs to its creator (tests, benches);
    with one, it is found again by later commands (the CLI's `services down`)."""

    def __init__(self, service: str, env: dict[str, str] | None = None, *, port: int | None = None,
                 log_path: Path | None = None, pid_file: Path | None = None) -> None:  # fmt: skip
        self.service = service
        self.port = port or free_port()
        self.env = {**os.environ, **(env or {}), f"HOTLINE_{service.upper()}_PORT": str(self.port)}
        self.log_path = log_path or STATE / "logs" / f"{service}-{self.port}.log"
        self.pid_file = pid_file
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pid(self) -> int | None:
        if self.proc is not None:
            return self.proc.pid if self.proc.poll() is None else None
        try:
            pid = int(self.pid_file.read_text()) if self.pid_file else 0
            os.kill(pid, 0)
            return pid or None
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        if self.pid():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", f"hotline_{self.service}"], env=self.env, stdout=log,
                stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=self.pid_file is not None,
            )  # fmt: skip
        if self.pid_file:
            self.pid_file.parent.mkdir(parents=True, exist_ok=True)
            self.pid_file.write_text(str(self.proc.pid))

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _check_alive(self) -> None:
        if self.pid() is None:
            tail = (
                self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
            )
            raise RuntimeError(f"{self.service} exited; {self.log_path}:\n{tail}")

    async def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                self._check_alive()
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)  # polling a readiness endpoint up to a deadline
        raise RuntimeError(f"{self.service} not ready after {timeout} s; see {self.log_path}")

    def wait_ready_blocking(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.service} not ready after {timeout} s; see {self.log_path}"
                )
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit."""
        self.stop(signal.SIGKILL)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        pid = self.pid()
        if pid is not None:
            os.kill(pid, sig)
            deadline = time.monotonic() + timeout
            while self.pid() and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.pid():
                os.kill(pid, signal.SIGKILL)
            if self.proc is not None:
                self.proc.wait(timeout=10)
        if self.pid_file:
            self.pid_file.unlink(missing_ok=True)


def managed() -> list[ServiceProcess]:
    """The CLI's services on their ports (service_port()), found again by PID file. Each is
    told where the others it calls answer (on their service_port()), unless the environment
    says so already."""
    links = {
        "followup": {"HOTLINE_FOLLOWUP_INTAKE_URL": "intake"},
        "console": {f"HOTLINE_CONSOLE_{n.upper()}_URL": n for n in ("intake", "sessions", "followup")},
    }  # fmt: skip
    found = []
    for name in SERVICES:
        env = {var: f"http://127.0.0.1:{service_port(target)}"
               for var, target in links.get(name, {}).items()
               if var not in os.environ}  # fmt: skip
        found.append(ServiceProcess(name, env, port=service_port(name),
                                    log_path=STATE / "logs" / f"{name}.log",
                                    pid_file=STATE / "run" / f"{name}.pid"))  # fmt: skip
    return found
