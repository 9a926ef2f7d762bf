"""The final report: what the services say (KPIs, SLA) beside what the simulator did."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hotline_shared.auth import mint_token
from hotline_shared.settings import SecuritySettings
from rich.console import Console
from rich.table import Table

from hotline_cli.simulator import Truth, Urls


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else None


def fetch(urls: Urls, center_id: str, since: datetime) -> dict[str, Any]:
    secret = SecuritySettings().jwt_secret
    assert secret is not None
    token = mint_token(
        secret.get_secret_value(), sub="report", role="supervisor", centers=[center_id]
    )
    headers = {"Authorization": f"Bearer {token}"}
    until = datetime.now(UTC) + timedelta(minutes=1)
    kpis = _get(f"{urls.pick('intake')}/v1/kpis/operations", headers, {
        "center_id": center_id, "since": since.isoformat(), "until": until.isoformat()})  # fmt: skip
    sla = _get(f"{urls.pick('followup')}/v1/sla/summary", headers, {"center_id": center_id})
    statuses: Counter[str] = Counter()
    cursor = None
    while True:
        params: dict[str, Any] = {
            "center_id": center_id,
            "limit": 500,
            **({"cursor": cursor} if cursor else {}),
        }
        page = _get(f"{urls.pick('followup')}/v1/followups", headers, params)
        statuses.update(item["status"] for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    return {"kpis": kpis, "sla": sla, "statuses": statuses}


def _get(url: str, headers: dict[str, str], params: dict[str, Any]) -> Any:
    """A GET whose error answer is an error (httpx.HTTPStatusError), not a report of nothing."""
    response = httpx.get(url, headers=headers, params=params, timeout=30)
    response.raise_for_status()
    return response.json()


def render(console: Console, truth: Truth | None, data: dict[str, Any]) -> None:
    kpis, sla, statuses = data["kpis"], data["sla"], data["statuses"]
    table = Table(title="hotline — run report", show_header=True)
    table.add_column("measure")
    table.add_column("value", justify="right")
    counts = sla.get("counts", {})
    rows: list[tuple[str, Any]] = [
        ("contacts offered", kpis.get("offered")), ("answered", kpis.get("answered")),
        ("abandoned", kpis.get("abandoned")), ("short abandons", kpis.get("short_abandoned")),
        ("failed (queue full, errors)", kpis.get("failed")),
        ("answer rate", _pct(kpis.get("answer_rate"))),
        ("abandonment rate", _pct(kpis.get("abandonment_rate"))),
        ("average speed to answer (s)", kpis.get("average_speed_to_answer_seconds")),
        ("longest wait (s)", kpis.get("longest_wait_seconds")),
        ("average time to abandon (s)", kpis.get("average_time_to_abandon_seconds")),
        (f"service level ({kpis.get('service_level_threshold_seconds', 20)} s)", _pct(kpis.get("service_level"))),
        ("average handle time (s)", kpis.get("average_handle_time_seconds")),
        ("transfers out of the center", kpis.get("transferred_out_of_center")),
        ("follow-ups scheduled", sum(statuses.values())), ("  completed", statuses.get("completed", 0)),
        ("  missed", statuses.get("missed", 0)), ("  cancelled", statuses.get("cancelled", 0)),
        ("  waiting for a number", statuses.get("needs-number", 0)),
        ("  open", sum(statuses.get(s, 0) for s in ("scheduled", "due", "attempted"))),
        ("SLA breached", counts.get("breached")), ("SLA at risk", counts.get("at-risk")),
        ("first attempt within SLA", _pct(sla.get("first_attempt_within_sla_rate"))),
        ("median time to first attempt (s)", sla.get("median_seconds_to_first_attempt")),
    ]  # fmt: skip
    for kind, figures in (sla.get("by_kind") or {}).items():
        if kind == "caring-contact":
            rows += _caring_rows(figures)
        elif figures.get("scheduled"):
            rows.append((f"  {kind}: scheduled / reached / declined / lost",
                         f"{figures['scheduled']} / {figures['reached']} / {figures['declined']} / "
                         f"{figures['lost_to_follow_up']}"))  # fmt: skip
    if truth is not None:
        caring = [c for c in truth.contacts if c.caring]
        rows.append(("simulated STOP replies", f"{sum(c.replied_stop for c in caring)} of {len(caring)} "
                     f"consenting ({_pct(sum(c.replied_stop for c in caring) / len(caring)) if caring else '—'})"))  # fmt: skip
        mix = Counter(c.risk for c in truth.answered if c.risk)
        total = sum(mix.values()) or 1
        rows += [(f"risk {level}", f"{mix.get(level, 0)} ({mix.get(level, 0) / total:.0%})")
                 for level in ("none", "low", "moderate", "high", "imminent")]  # fmt: skip
        rows += [("webhook latency p50 (ms)", _ms(percentile(truth.webhook_ms, 50))),
                 ("webhook latency p99 (ms)", _ms(percentile(truth.webhook_ms, 99))),
                 ("simulator errors", len(truth.errors))]  # fmt: skip
    for name, value in rows:
        table.add_row(name, "—" if value is None else str(value))
    console.print(table)


def _caring_rows(figures: dict[str, Any]) -> list[tuple[str, Any]]:
    """Caring contacts are messages: series, opt-outs, and messages by state (not calls)."""
    series = figures.get("scheduled") or 0
    if not series:
        return []
    messages = figures.get("messages") or {}
    handed = sum(messages.get(s, 0) for s in ("sent", "delivered", "undelivered"))
    return [
        ("  caring-contact series / opted out", f"{series} / {figures.get('opted_out', 0)} "
         f"({_pct(figures.get('opted_out', 0) / series)})"),
        ("  caring messages sent / skipped / cancelled", f"{handed} / {messages.get('skipped', 0)} / "
         f"{messages.get('cancelled', 0)}"),
    ]  # fmt: skip


def _pct(rate: float | None) -> str | None:
    return f"{rate:.1%}" if rate is not None else None


def _ms(value: float | None) -> str | None:
    return f"{value:.1f}" if value is not None else None
