"""The `hotline` command: help everywhere, a role is a choice, one way to find the services,
and a service it cannot reach is one line on stderr and a non-zero exit, not a traceback."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import typer.main
from hotline_cli import main, processes
from hotline_cli.main import app
from hotline_cli.processes import SERVICES, AddressError, free_port, service_port, service_url
from hotline_cli.simulator import Truth, Urls
from hotline_shared.auth import Role
from typer.testing import CliRunner

runner = CliRunner()
CALLED = ("intake", "sessions", "followup")  # the services simulate and report call


@pytest.fixture(autouse=True)
def _no_addresses_from_the_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the HOTLINE_<SVC>_URL/_PORT it means; none leak in from the shell."""
    for name in SERVICES:
        monkeypatch.delenv(f"HOTLINE_{name.upper()}_URL", raising=False)
        monkeypatch.delenv(f"HOTLINE_{name.upper()}_PORT", raising=False)


def commands(command: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:  # fmt: skip
    """Every command and group under `hotline`, with the words that invoke it."""
    command = command if command is not None else typer.main.get_command(app)
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from commands(sub, (*path, name))


PATHS = [path for path, _ in commands()]


def closed_url() -> str:
    """A local address nothing listens on: connecting is refused at once."""
    return f"http://127.0.0.1:{free_port()}"


def one_line_error(result: Any) -> str:
    """The error line, after checking it is the only output on stderr and nothing else failed."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not a traceback
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hotline: ")
    return str(lines[0])


# ---- help ----------------------------------------------------------------------------------


def test_the_command_tree_is_what_we_document() -> None:
    assert {" ".join(p) for p in PATHS} >= {"token", "simulate", "report", "stack up",
        "services up", "services down", "services status", "dlq list", "dlq replay", "audit verify"}  # fmt: skip


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "hotline")
def test_every_command_and_every_option_has_help_text(path: tuple[str, ...]) -> None:
    command = dict(commands())[path]
    assert (command.help or "").strip(), f"`hotline {' '.join(path)}` has no help text"
    for param in command.params:
        assert (getattr(param, "help", None) or "").strip(), (
            f"`hotline {' '.join(path)}`: {param.name} has no help text"
        )
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and " ".join(path) in result.output


# ---- --role --------------------------------------------------------------------------------


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@pytest.mark.parametrize("role", list(Role))
def test_token_accepts_each_role_the_system_knows(role: Role) -> None:
    result = runner.invoke(app, ["token", "--role", role.value, "--center", "center-01"])
    assert result.exit_code == 0, result.output
    assert claims(result.stdout.strip())["role"] == role.value


def test_token_rejects_a_role_the_system_does_not_know_and_names_the_choices() -> None:
    result = runner.invoke(app, ["token", "--role", "root", "--center", "center-01"])
    assert result.exit_code == 2, result.output  # a usage error, before any token is minted
    assert "--role" in result.output and "root" in result.output
    for role in Role:
        assert role.value in result.output
    assert not result.stdout.strip()


def test_token_help_lists_the_roles() -> None:
    shown = runner.invoke(app, ["token", "--help"]).output
    assert all(role.value in shown for role in Role)


# ---- where the services are ----------------------------------------------------------------


def test_without_settings_the_services_are_on_their_well_known_local_ports() -> None:
    for name, port in SERVICES.items():
        assert service_port(name) == port
        assert service_url(name) == f"http://127.0.0.1:{port}"
    assert Urls.from_env() == Urls()  # the simulator's defaults are the same places


def test_a_port_setting_moves_services_up_simulate_and_report_alike(monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("HOTLINE_SESSIONS_PORT", "9102")
    monkeypatch.setenv("HOTLINE_INTAKE_PORT", "9101")
    managed = {service.service: service for service in processes.managed()}
    assert managed["sessions"].port == 9102 and managed["intake"].port == 9101
    urls = Urls.from_env()
    assert urls.sessions == managed["sessions"].url == "http://127.0.0.1:9102"
    assert urls.intake == managed["intake"].url == "http://127.0.0.1:9101"
    assert urls.followup == "http://127.0.0.1:8003"
    # what `services up` starts finds the others where they are
    console, followup = managed["console"].env, managed["followup"].env
    assert console["HOTLINE_CONSOLE_INTAKE_URL"] == "http://127.0.0.1:9101"
    assert console["HOTLINE_CONSOLE_SESSIONS_URL"] == "http://127.0.0.1:9102"
    assert followup["HOTLINE_FOLLOWUP_INTAKE_URL"] == "http://127.0.0.1:9101"


def test_a_link_set_in_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_CONSOLE_INTAKE_URL", "http://intake.internal:8001")
    console = {s.service: s for s in processes.managed()}["console"]
    assert console.env["HOTLINE_CONSOLE_INTAKE_URL"] == "http://intake.internal:8001"


def test_a_url_setting_wins_over_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_INTAKE_PORT", "9101")
    monkeypatch.setenv("HOTLINE_INTAKE_URL", "https://intake.example.org/")
    monkeypatch.setenv("HOTLINE_FOLLOWUP_URL", "http://10.0.0.1:8003, http://10.0.0.2:8003")
    urls = Urls.from_env()
    assert urls.intake == "https://intake.example.org"
    assert urls.followup == "http://10.0.0.1:8003,http://10.0.0.2:8003"  # replicas
    assert urls.pick("followup") in {"http://10.0.0.1:8003", "http://10.0.0.2:8003"}


@pytest.mark.parametrize(("name", "value"), [("HOTLINE_INTAKE_PORT", "eighty"),
    ("HOTLINE_INTAKE_PORT", "70000"), ("HOTLINE_INTAKE_URL", "intake:8001")])  # fmt: skip
def test_an_unusable_setting_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:  # fmt: skip
    monkeypatch.setenv(name, value)
    with pytest.raises(AddressError, match=name):
        Urls.from_env()
    line = one_line_error(runner.invoke(app, ["report"]))
    assert name in line


def place_services(monkeypatch: pytest.MonkeyPatch, how: str) -> dict[str, str]:
    """Put each called service somewhere other than its default, by URL or by port setting;
    returns where each is now."""
    where = {}
    for n, name in enumerate(CALLED):
        if how == "url":
            where[name] = f"http://{name}.example.org:{7100 + n}"
            monkeypatch.setenv(f"HOTLINE_{name.upper()}_URL", where[name] + "/")
        else:
            where[name] = f"http://127.0.0.1:{9100 + n}"
            monkeypatch.setenv(f"HOTLINE_{name.upper()}_PORT", str(9100 + n))
    return where


def fake_services(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """httpx.get answered as the services would; returns the URLs called."""
    answers = {"/healthz": {"status": "ok"}, "/v1/kpis/operations": {"offered": 3},
               "/v1/sla/summary": {"counts": {}}, "/v1/followups": {"items": [], "next_cursor": None}}  # fmt: skip
    seen: list[str] = []

    def get(url: str, **kwargs: Any) -> httpx.Response:
        seen.append(url)
        request = httpx.Request("GET", url)
        return httpx.Response(200, json=answers[request.url.path], request=request)

    monkeypatch.setattr(httpx, "get", get)
    return seen


@pytest.mark.parametrize("how", ["url", "port"])
def test_report_calls_each_service_where_its_setting_says(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    where = place_services(monkeypatch, how)
    seen = fake_services(monkeypatch)
    result = runner.invoke(app, ["report"])
    assert result.exit_code == 0, result.output
    assert seen == [f"{where['intake']}/v1/kpis/operations", f"{where['followup']}/v1/sla/summary",
                    f"{where['followup']}/v1/followups"]  # fmt: skip


@pytest.mark.parametrize("how", ["url", "port"])
def test_simulate_calls_each_service_where_its_setting_says(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    where = place_services(monkeypatch, how)
    seen = fake_services(monkeypatch)
    given: list[Urls] = []

    class Simulation:  # stands in for the simulator: records where it was sent
        def __init__(self, center: Any, urls: Urls, **kwargs: Any) -> None:
            given.append(urls)

        async def run(self, *args: Any, **kwargs: Any) -> Truth:
            return Truth()

    monkeypatch.setattr(main, "Simulation", Simulation)
    result = runner.invoke(app, ["simulate", "--contacts", "1"])
    assert result.exit_code == 0, result.output
    assert given == [Urls(**where)]
    assert {f"{where[name]}/healthz" for name in CALLED} <= set(seen)  # checked before the run
    assert f"{where['intake']}/v1/kpis/operations" in seen  # and its report


# ---- unreachable services: one line, non-zero ---------------------------------------------


@pytest.mark.parametrize("command", [["report"], ["simulate", "--contacts", "1"]])
def test_an_unreachable_service_is_one_line_and_a_non_zero_exit(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    url = closed_url()
    for name in CALLED:
        monkeypatch.setenv(f"HOTLINE_{name.upper()}_URL", url)
    line = one_line_error(runner.invoke(app, command))
    assert "cannot reach" in line and url in line


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectTimeout("timed out"),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("refused"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_timeout_or_a_failed_connection_is_one_line(
    monkeypatch: pytest.MonkeyPatch, error: httpx.TransportError
) -> None:
    def failing_get(url: str, **kwargs: Any) -> httpx.Response:
        error.request = httpx.Request("GET", url, params=kwargs.get("params"))
        raise error

    monkeypatch.setattr(httpx, "get", failing_get)
    line = one_line_error(runner.invoke(app, ["report"]))
    assert str(error) in line and "http://127.0.0.1:8001/v1/kpis/operations" in line
    assert "center_id" not in line  # the address, not the query


def test_an_error_answer_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def refusing_get(url: str, **kwargs: Any) -> httpx.Response:
        return httpx.Response(
            401, json={"title": "Unauthorized"}, request=httpx.Request("GET", url)
        )

    monkeypatch.setattr(httpx, "get", refusing_get)
    line = one_line_error(runner.invoke(app, ["report"]))
    assert "401" in line


def test_a_multi_line_error_message_still_prints_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_get(url: str, **kwargs: Any) -> httpx.Response:
        raise httpx.ConnectError("first\nsecond", request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx, "get", failing_get)
    assert "first second" in one_line_error(runner.invoke(app, ["report"]))


def test_an_unreachable_kafka_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")
    line = one_line_error(runner.invoke(app, ["dlq", "list"]))
    assert "cannot reach Kafka" in line and "HOTLINE_KAFKA_BOOTSTRAP" in line
