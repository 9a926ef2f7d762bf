"""`hotline`: the local stack, the services, the simulator, tokens and reports."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import typer
import uvloop
from aiokafka.errors import KafkaConnectionError
from hotline_shared.auth import Role, mint_token
from hotline_shared.centers import load_centers
from hotline_shared.settings import KafkaSettings, SecuritySettings
from pymongo.errors import ConnectionFailure
from rich.console import Console
from rich.progress import Progress
from typer.core import TyperGroup

from hotline_cli import audit_check, dlq, processes, report
from hotline_cli.simulator import Simulation, Urls

# What a command that cannot reach a service, Kafka or MongoDB raises: reported in one line
# on stderr (exit 1), not as a traceback.
UNREACHABLE = (httpx.TransportError, KafkaConnectionError, ConnectionFailure, ConnectionError,
               TimeoutError)  # fmt: skip


def one_line(exc: BaseException) -> str:
    """What went wrong, in one line that names where."""
    if isinstance(exc, httpx.HTTPStatusError):
        request, response = exc.request, exc.response
        address = request.url.copy_with(query=None)
        return (
            f"{request.method} {address} answered {response.status_code} {response.reason_phrase}"
        )
    if isinstance(exc, httpx.TransportError):
        try:
            where = f"{exc.request.method} {exc.request.url.copy_with(query=None)}"
        except RuntimeError:  # an error raised without its request
            where = "a service"
        reason = str(exc) or type(exc).__name__
        return f"cannot reach {where}: {reason} (is it running? `hotline services up`, or set HOTLINE_<SVC>_URL)"
    if isinstance(exc, processes.AddressError):
        return str(exc)
    if isinstance(exc, KafkaConnectionError):
        return f"cannot reach Kafka at {KafkaSettings().bootstrap} (HOTLINE_KAFKA_BOOTSTRAP): {exc}"
    if isinstance(exc, ConnectionFailure):  # its message ends in the whole topology: not that
        reason = str(exc).split(", Timeout:")[0]
        return f"cannot reach MongoDB (HOTLINE_MONGODB_URI): {reason}"
    return f"cannot connect: {exc or type(exc).__name__}"


class _OneLineErrors(TyperGroup):
    """The root command: connection errors and error answers end the command with one line on
    stderr and exit status 1."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click Context
        try:
            return super().invoke(ctx)
        except (*UNREACHABLE, httpx.HTTPStatusError, processes.AddressError) as exc:
            message = " ".join(one_line(exc).split())  # one line, whatever the error said
            typer.echo(f"hotline: {message}", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_OneLineErrors, help="hotline: crisis-line software, run locally.", no_args_is_help=True
)
stack = typer.Typer(help="Kafka + MongoDB wire (deploy/local/stack.sh).", no_args_is_help=True)
services = typer.Typer(
    help="The services (intake, sessions, followup, console) as separate local processes, on "
    "HOTLINE_<SVC>_PORT or their well-known ports 8001-8004.",
    no_args_is_help=True,
)
app.add_typer(stack, name="stack")
dead = typer.Typer(help="Dead letters (hotline.dlq.v1): list and replay.", no_args_is_help=True)
app.add_typer(services, name="services")
app.add_typer(dead, name="dlq")
audit_app = typer.Typer(help="The audit logs: verify their hash chains.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
console = Console()
STACK = str(processes.ROOT / "deploy" / "local" / "stack.sh")


@app.callback()
def _development_secrets() -> None:
    """Every command runs against the local development stack: its secrets (dev.env)."""
    processes.use_dev_secrets()
    # a broker that cannot be reached is the one line _OneLineErrors prints, not a log line
    # per attempt from the Kafka client
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


@stack.command("up")
def stack_up() -> None:
    """Start Kafka and the MongoDB-wire database (nothing when they already answer)."""
    raise typer.Exit(subprocess.run([STACK, "up"], check=False).returncode)  # noqa: S603


@stack.command("down")
def stack_down() -> None:
    """Stop what `hotline stack up` started."""
    raise typer.Exit(subprocess.run([STACK, "down"], check=False).returncode)  # noqa: S603


@stack.command("status")
def stack_status() -> None:
    """Say whether Kafka and the database answer."""
    raise typer.Exit(subprocess.run([STACK, "status"], check=False).returncode)  # noqa: S603


@services.command("up")
def services_up(
    demo: bool = typer.Option(True, help="demo policy profile: hours become seconds"),
) -> None:
    """Start every service in the background and wait until each is ready.

    Each listens on HOTLINE_<SVC>_PORT, else its well-known port; logs and PIDs in .local/."""
    managed = processes.managed()
    for service in managed:
        service.env.update(processes.DEMO_ENV if demo else {})
        service.start()
    for service in managed:
        try:
            service.wait_ready_blocking()
        except RuntimeError as exc:  # it exited or never became ready: the message says why
            typer.echo(f"hotline: {exc}", err=True)
            raise typer.Exit(1) from None
        console.print(
            f"[green]{service.service}[/] ready at {service.url} (docs {service.url}/docs, log {service.log_path})"
        )
    web = f"http://localhost:{managed[-1].port}"  # the browser's origin (CSRF checks it)
    how = "sign in as any user, role and center" if demo else "sign in with HOTLINE_OIDC_*"
    console.print(f"[bold]console: open {web} in a browser[/] ({how})")


@services.command("down")
def services_down() -> None:
    """Stop the services `hotline services up` started."""
    for service in processes.managed():
        service.stop()
        console.print(f"{service.service} stopped")


@services.command("status")
def services_status() -> None:
    """Each service: ready, running but not ready, or stopped."""
    for service in processes.managed():
        state = "ready" if service.ready() else "running, not ready" if service.pid() else "stopped"
        console.print(f"{service.service:<9} {state:<18} {service.url}")


@audit_app.command("verify")
def audit_verify(
    center: str = typer.Option(..., "--center", help="the center whose chains to verify"),
) -> None:
    """Walk each service's audit chain for a center; exit 1 naming every edited, deleted or
    reordered entry."""
    results = asyncio.run(audit_check.verify_center(center))
    broken = False
    for service, (entries, breaks) in results.items():
        if breaks:
            broken = True
            for problem in breaks:
                console.print(f"[red]{service}[/]: {problem}", highlight=False)
        else:
            console.print(f"[green]{service}[/]: {entries} entries, chain intact")
    raise typer.Exit(1 if broken else 0)


@dead.command("list")
def dlq_list() -> None:
    """Every dead letter: where it came from, which consumer gave up, and why."""
    letters = asyncio.run(dlq.read(KafkaSettings()))
    for d in letters:
        console.print(f"{d.partition}:{d.offset:<6} {d.event_id or '?'} {d.event_type or '?'} "
                      f"from {d.topic} ({d.consumer}): {d.error}", markup=False, highlight=False)  # fmt: skip
    console.print(f"{len(letters)} dead letter(s)")


@dead.command("replay")
def dlq_replay(
    event_id: list[str] = typer.Option(None, "--id", help="replay only these event ids"),
    everything: bool = typer.Option(False, "--all", help="replay every dead letter"),
) -> None:
    """Send dead letters back to their topics (after the cause was fixed)."""
    if not event_id and not everything:
        raise typer.BadParameter("name events with --id, or replay all with --all")
    settings = KafkaSettings()
    letters = [d for d in asyncio.run(dlq.read(settings)) if everything or d.event_id in event_id]
    console.print(f"replayed {asyncio.run(dlq.replay(settings, letters))} dead letter(s)")


@app.command()
def token(
    role: Role = typer.Option(..., help="the role the token grants"),
    center: list[str] = typer.Option(..., help="a center the token grants (repeat for several)"),
    sub: str = typer.Option("dev-user", help="the user the token names (its `sub` claim)"),
) -> None:
    """Mint a development bearer token (HS256)."""
    secret = SecuritySettings().jwt_secret
    assert secret is not None
    typer.echo(mint_token(secret.get_secret_value(), sub=sub, role=role, centers=center))


CENTER_HELP = "the center (an id in the centers file)"


@app.command()
def simulate(
    contacts: int = typer.Option(300, min=1, help="how many simulated contacts to offer"),
    rate: float = typer.Option(10.0, min=0.1, help="contacts offered per second"),
    center: str = typer.Option("center-01", help=CENTER_HELP),
    follow_seconds: float = typer.Option(20.0, help="keep working follow-ups this long after the last contact"),
    seed: int = typer.Option(7, help="random seed: the same seed, the same callers"),
) -> None:  # fmt: skip
    """Drive the running services with simulated callers, counselors and follow-up workers.

    The services answer at HOTLINE_<SVC>_URL, else at HOTLINE_<SVC>_PORT on this machine."""
    centers = load_centers(SecuritySettings().centers_file)
    found = centers.get(center)
    if found is None:
        raise typer.BadParameter(f"unknown center {center}", param_hint="'--center'")
    urls = Urls.from_env()
    check_reachable(urls)
    since = datetime.now(UTC) - timedelta(minutes=1)
    with Progress(console=console) as progress:
        bar = progress.add_task("contacts", total=contacts)
        sim = Simulation(found, urls, seed=seed, on_progress=lambda: progress.advance(bar))
        # uvloop, as the services run: the callers' own loop is not what gets measured
        truth = uvloop.run(sim.run(contacts, rate, worker_seconds=follow_seconds))
    report.render(console, truth, report.fetch(urls, center, since))
    for error in truth.errors[:10]:
        console.print(f"[yellow]simulator: {error}[/]")


@app.command("report")
def show_report(
    center: str = typer.Option("center-01", help=CENTER_HELP),
    hours: float = typer.Option(24.0, min=0, help="the period: the last this many hours"),
) -> None:
    """KPIs and SLA figures from the running services.

    The services answer at HOTLINE_<SVC>_URL, else at HOTLINE_<SVC>_PORT on this machine."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    report.render(console, None, report.fetch(Urls.from_env(), center, since))


def check_reachable(urls: Urls) -> None:
    """Every service URL answers /healthz: the simulator retries a failing service for minutes
    (as providers retry webhooks), so an address that is wrong must fail before it starts."""
    for service in ("intake", "sessions", "followup"):
        for url in getattr(urls, service).split(","):
            httpx.get(f"{url}/healthz", timeout=5).raise_for_status()


if __name__ == "__main__":
    app()
