"""Browser tests: Debian's Chromium driven by Playwright (pytest-playwright) against the real
services — intake, sessions, follow-up and the console — on the real Kafka and database."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.conftest import token_for
from tests.support import ROOT, ServiceProcess, unique

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
AXE = ROOT / "services" / "console" / "web" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "docs" / "console"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    assert Path(CHROMIUM).exists(), "Debian's chromium: `make install` installs it"
    return {"executable_path": CHROMIUM, "args": FLAGS, "headless": True}


class Stack:
    """The four services as processes, sharing topics and databases of their own."""

    def __init__(self, log_dir: Path) -> None:
        prefix = unique("b")
        self.env = {"HOTLINE_KAFKA_TOPIC_PREFIX": f"{prefix}.",
                    "HOTLINE_MONGODB_DATABASE_PREFIX": f"{prefix}_",
                    "HOTLINE_DEV_LOGIN": "1",
                    # hours become seconds: follow-ups come due and breach within the test
                    "HOTLINE_FOLLOWUP_POLICY_PROFILE": "demo"}  # fmt: skip
        self.intake = ServiceProcess("intake", self.env, log_dir)
        self.sessions = ServiceProcess("sessions", self.env, log_dir)
        self.followup = ServiceProcess("followup", self.env, log_dir)
        console_env = {
            **self.env,
            "HOTLINE_CONSOLE_INTAKE_URL": self.intake.url,
            "HOTLINE_CONSOLE_SESSIONS_URL": self.sessions.url,
            "HOTLINE_CONSOLE_FOLLOWUP_URL": self.followup.url,
        }
        self.console = ServiceProcess("console", console_env, log_dir)
        # the browser's origin: localhost is a secure context, so Secure cookies work on http
        self.console_url = f"http://localhost:{self.console.port}"
        self.console.env["HOTLINE_CONSOLE_PUBLIC_URL"] = self.console_url
        self.all = [self.intake, self.sessions, self.followup, self.console]

    def api(self, service: ServiceProcess, path: str, *, center: str = "center-01",
            params: Any = None) -> Any:  # fmt: skip
        """A supervisor's read, straight from a service (what was really stored)."""
        token = token_for("supervisor", [center], sub="test-supervisor")
        response = httpx.get(f"{service.url}{path}", params=params, timeout=10,
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = Stack(tmp_path_factory.mktemp("browser-services"))
    for process in started.all:
        process.start()
    try:
        for process in started.all:
            process.wait_ready_blocking()
        yield started
    finally:
        for process in started.all:
            process.stop()


def eventually(
    probe: Callable[[], T | None], *, timeout: float = 30.0, what: str = "condition"
) -> T:
    """Poll until `probe` returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (httpx.HTTPError, AssertionError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.1)  # polling interval of a condition with a deadline
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def sign_in(page: Page, stack: Stack, user: str, *, center: str = "center-01",
            role: str = "counselor", agent: str | None = None) -> None:  # fmt: skip
    page.goto(stack.console_url)
    page.get_by_label("User id").fill(user)
    page.get_by_label("Role").select_option(role)
    page.get_by_label("Center").select_option(center)
    if agent:
        page.get_by_label(re.compile(r"^Telephony agent ids")).fill(agent)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="My contacts").wait_for()
    page.locator(".live-live").wait_for()  # the live feed is connected


def new_page(browser: Browser) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    return context, context.new_page()


def no_serious_axe_violations(page: Page, screen: str) -> None:
    """axe-core in the page (evaluated by the driver, so the console's CSP is not weakened)."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
               for v in result["violations"] if v["impact"] in ("serious", "critical")]  # fmt: skip
    assert not serious, f"{screen}: {json.dumps(serious, indent=1)}"


def screenshot(page: Page, name: str) -> None:
    """The screen as it opens: from the top (a dialog is fixed, it shows wherever)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)
