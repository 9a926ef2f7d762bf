"""The alerting rules and the Grafana dashboard cannot drift from the metrics: every PromQL
expression is parsed by a real PromQL parser, and every metric it selects is one the services
export (or Prometheus's own `up`). No infrastructure: the apps are built, not started."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[3]
OBSERVABILITY = ROOT / "deploy" / "observability"
PROMETHEUS_OWN = {"up"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "info": ("_info",),
}


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """Every series name the three services' /metrics can carry."""
    from fastapi.testclient import TestClient
    from hotline_followup.app import build_app as followup
    from hotline_intake.app import build_app as intake
    from hotline_sessions.app import build_app as sessions

    for build in (intake, sessions, followup):
        # building registers the Kafka and domain metrics; the first request, HTTP's
        assert TestClient(build()).get("/asyncapi").status_code == 200
    names = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def selected_metrics(expr: str) -> set[str]:
    """The metric names an expression selects (its vector and matrix selectors)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.add(node.name)
            return
        for attribute in ("lhs", "rhs", "expr", "param", "vector_selector"):
            child = getattr(node, attribute, None)
            if child is not None:
                walk(child)
        for arg in getattr(node, "args", None) or ():
            walk(arg)

    walk(promql_parser.parse(expr))
    return found


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((OBSERVABILITY / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[tuple[str, str]]:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    return [(panel["title"], target["expr"])
            for panel in dashboard["panels"] for target in panel["targets"]]  # fmt: skip


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_each_alert_is_well_formed_and_names_only_exported_metrics(
    rule: dict[str, Any], exported: set[str]
) -> None:
    assert re.fullmatch(r"Hotline[A-Z][A-Za-z]+", rule["alert"])
    assert rule["labels"]["severity"] in ("critical", "warning")
    assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    if "for" in rule:
        assert re.fullmatch(r"\d+[smh]", rule["for"])
    names = selected_metrics(rule["expr"])
    assert names, "an alert on no metric"
    assert names - exported - PROMETHEUS_OWN == set()


@pytest.mark.parametrize(("title", "expr"), dashboard_exprs(), ids=lambda v: str(v)[:40])
def test_each_dashboard_query_names_only_exported_metrics(
    title: str, expr: str, exported: set[str]
) -> None:
    assert selected_metrics(expr) - exported == set(), title


def test_the_alerts_cover_what_the_issue_asks_for() -> None:
    """Consumer lag, dead letters, SLA breaches, timer lateness and error rate."""
    covered = set().union(*(selected_metrics(r["expr"]) for r in rules()))
    assert {"hotline_consumer_lag_messages", "hotline_dead_letters_total",
            "hotline_followup_transitions_total", "hotline_followup_timer_lateness_seconds_bucket",
            "http_requests_total"} <= covered  # fmt: skip


def test_the_check_catches_a_metric_nobody_exports(exported: set[str]) -> None:
    assert selected_metrics("rate(hotline_contacts_totl[5m]) > 0") - exported == {
        "hotline_contacts_totl"
    }
    with pytest.raises(ValueError):
        promql_parser.parse("sum by (kind (rate(x[5m]))")


def test_no_metric_label_could_carry_an_id_or_phi(exported: set[str]) -> None:
    """Labels are bounded vocabularies: none is named like an identifier or a person."""
    suspicious = re.compile(r"(^|_)(id|contact|caller|phone|number|user|name|token|session)($|_)")
    known = {"app_name"}  # FastStream's: the service's Kafka client id (hotline-intake, …)
    for family in REGISTRY.collect():
        if not family.name.startswith(("hotline_", "http_")):
            continue
        for sample in family.samples:
            bad = [label for label in sample.labels
                   if suspicious.search(label) and label not in known]  # fmt: skip
            assert bad == [], (family.name, bad)
    from hotline_shared import metrics

    for metric in vars(metrics).values():
        labels = getattr(metric, "_labelnames", ())
        assert not [label for label in labels if suspicious.search(label)], metric
