"""`hotline`: the local stack, the services, the simulator, tokens and reports."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta

import typer
from hotline_shared.auth import mint_token
from hotline_shared.centers import load_centers
from hotline_shared.settings import KafkaSettings, SecuritySettings
from rich.console import Console
from rich.progress import Progress

from hotline_cli import audit_check, dlq, processes, report
from hotline_cli.simulator import Simulation, Urls

app = typer.Typer(help="hotline: crisis-line software, run locally.", no_args_is_help=True)
stack = typer.Typer(help="Kafka + MongoDB wire (deploy/local/stack.sh).", no_args_is_help=True)
services = typer.Typer(help="The three services as separate processes.", no_args_is_help=True)
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


@stack.command("up")
def stack_up() -> None:
    subprocess.run([STACK, "up"], check=True)  # noqa: S603


@stack.command("down")
def stack_down() -> None:
    subprocess.run([STACK, "down"], check=True)  # noqa: S603


@stack.command("status")
def stack_status() -> None:
    subprocess.run([STACK, "status"], check=True)  # noqa: S603


@services.command("up")
def services_up(
    demo: bool = typer.Option(True, help="demo policy profile: hours become seconds"),
) -> None:
    managed = processes.managed()
    for service in managed:
        service.env.update(processes.DEMO_ENV if demo else {})
        service.start()
    for service in managed:
        service.wait_ready_blocking()
        console.print(
            f"[green]{service.service}[/] ready at {service.url} (docs {service.url}/docs, log {service.log_path})"
        )
    web = f"http://localhost:{managed[-1].port}"  # the browser's origin (CSRF checks it)
    how = "sign in as any user, role and center" if demo else "sign in with HOTLINE_OIDC_*"
    console.print(f"[bold]console: open {web} in a browser[/] ({how})")


@services.command("down")
def services_down() -> None:
    for service in processes.managed():
        service.stop()
        console.print(f"{service.service} stopped")


@services.command("status")
def services_status() -> None:
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
    role: str = typer.Option(...), center: list[str] = typer.Option(...), sub: str = "dev-user"
) -> None:
    """Mint a development bearer token (HS256)."""
    secret = SecuritySettings().jwt_secret
    assert secret is not None
    typer.echo(mint_token(secret.get_secret_value(), sub=sub, role=role, centers=center))


@app.command()
def simulate(
    contacts: int = typer.Option(300, min=1), rate: float = typer.Option(10.0, min=0.1),
    center: str = "center-01", follow_seconds: float = typer.Option(20.0, help="keep working follow-ups"),
    seed: int = 7,
) -> None:  # fmt: skip
    """Drive the running services with simulated callers, counselors and follow-up workers."""
    centers = load_centers(SecuritySettings().centers_file)
    found = centers.get(center)
    if found is None:
        raise typer.BadParameter(f"unknown center {center}")
    since = datetime.now(UTC) - timedelta(minutes=1)
    with Progress(console=console) as progress:
        bar = progress.add_task("contacts", total=contacts)
        sim = Simulation(found, Urls(), seed=seed, on_progress=lambda: progress.advance(bar))
        truth = asyncio.run(sim.run(contacts, rate, worker_seconds=follow_seconds))
    report.render(console, truth, report.fetch(Urls(), center, since))
    for error in truth.errors[:10]:
        console.print(f"[yellow]simulator: {error}[/]")


@app.command("report")
def show_report(center: str = "center-01", hours: float = 24.0) -> None:
    """KPIs and SLA figures from the running services."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    report.render(console, None, report.fetch(Urls(), center, since))


if __name__ == "__main__":
    app()
