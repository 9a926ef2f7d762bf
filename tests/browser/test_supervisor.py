"""The supervisor's and the follow-up worker's workspaces in real Chromium against the real
services: the live board moves with a surge, an escalation reaches the alert feed and is
acknowledged, a task past its deadline shows breached, a claim shows to a second worker, a
documented call completes its task, the charts draw the KPI API's numbers, the CSV export
equals them. axe-core checks every screen; screenshots go to docs/console/."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import httpx
from hotline_shared.ids import contact_id_for
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    Stack,
    eventually,
    new_page,
    no_serious_axe_violations,
    screenshot,
    sign_in,
)
from tests.browser.telephony import _event, answer_call, post_connect
from tests.conftest import token_for
from tests.support import unique

CENTER = "center-01"


def queue_call(stack: Stack, *, caller: str = "+12025550177") -> str:
    """A call waiting in the queue now (Connect INITIATED + QUEUED)."""
    cid, start = unique("q-"), datetime.now(UTC) - timedelta(seconds=5)
    for n, kind in enumerate(("INITIATED", "QUEUED"), 1):
        post_connect(stack.intake.url, CENTER, _event(cid, kind, n, start, agent=None, caller=caller,
                                                      answered=None, ended=None))  # fmt: skip
    return cid


def abandon_call(stack: Stack, caller: str) -> str:
    """A caller who gave up after a minute in the queue: a callback is owed. The contact id."""
    cid, start = unique("ab-"), datetime.now(UTC) - timedelta(seconds=90)
    for n, (kind, ended) in enumerate((("INITIATED", None), ("QUEUED", None),
                                       ("DISCONNECTED", start + timedelta(seconds=61))), 1):  # fmt: skip
        post_connect(stack.intake.url, CENTER, _event(cid, kind, n, start, agent=None, caller=caller,
                                                      answered=None, ended=ended))  # fmt: skip
    return contact_id_for(CENTER, "amazon-connect", cid)


def stat(page: Page, name: str) -> str:
    return page.get_by_test_id(f"stat-{name}").inner_text()


def number(text: str) -> int:
    return int(text) if text.isdigit() else -1


def test_a_surge_moves_the_live_board_without_a_reload(browser: Browser, stack: Stack) -> None:
    context, page = new_page(browser)
    sign_in(page, stack, "sam", role="supervisor")
    page.get_by_role("link", name="Operations").click()
    expect(page.get_by_test_id("stat-waiting")).not_to_have_text("…")
    waiting, offered = number(stat(page, "waiting")), number(stat(page, "offered"))
    cids = [queue_call(stack) for _ in range(5)]
    expect(page.get_by_test_id("stat-waiting")).to_have_text(str(waiting + 5), timeout=20_000)
    expect(page.get_by_test_id("stat-offered")).to_have_text(str(offered + 5), timeout=20_000)
    answered = number(stat(page, "answered"))
    start = datetime.now(UTC) - timedelta(seconds=5)
    for cid in cids[:3]:
        post_connect(stack.intake.url, CENTER, _event(cid, "CONNECTED_TO_AGENT", 3, start, agent="arn:agent/x",
                                                      caller="+12025550177", answered=datetime.now(UTC), ended=None))  # fmt: skip
    expect(page.get_by_test_id("stat-waiting")).to_have_text(str(waiting + 2), timeout=20_000)
    expect(page.get_by_test_id("stat-answered")).to_have_text(str(answered + 3), timeout=20_000)
    expect(page.get_by_test_id("stat-answer-rate")).not_to_have_text("—")
    context.close()


def test_an_escalation_reaches_the_alert_feed_and_is_acknowledged(
    browser: Browser, stack: Stack
) -> None:
    context, page = new_page(browser)
    sign_in(page, stack, "sam", role="supervisor")
    page.goto(f"{stack.console_url}/operations")
    expect(page.get_by_test_id("board")).to_be_visible()
    contact_id = answer_call(stack.intake.url, CENTER, unique("esc-"), agent="arn:agent/esc",
                             caller="+12025550188")  # fmt: skip
    token = token_for("supervisor", [CENTER], sub="sam")
    escalated = httpx.post(f"{stack.intake.url}/v1/contacts/{contact_id}/escalations", timeout=10,
                           headers={"Authorization": f"Bearer {token}"},
                           json={"reason": "attempt-in-progress", "actions": ["ems-dispatched"]})  # fmt: skip
    assert escalated.status_code == 201, escalated.text
    alert = page.locator("li.imminent", has_text=contact_id[:8])
    expect(alert).to_be_visible(timeout=15_000)  # live: pushed, then listed
    expect(page.get_by_test_id("imminent")).to_be_visible()
    no_serious_axe_violations(page, "operations")
    screenshot(page, "operations")
    alert.get_by_role("button", name="Acknowledge").click()
    acked = page.locator(f"li:has-text('{contact_id[:8]}') [data-testid=acked]").first
    expect(acked).to_contain_text("Acknowledged by sam")
    context.close()


def test_a_task_past_its_deadline_shows_breached_on_the_sla_board(
    browser: Browser, stack: Stack
) -> None:
    context, page = new_page(browser)
    sign_in(page, stack, "sam", role="supervisor")
    page.goto(f"{stack.console_url}/sla")
    abandon_call(stack, "+12025550199")  # a callback owed; the demo policy's hours are seconds
    breached = page.get_by_test_id("sla-tasks").locator("tr[data-task-id]")
    expect(breached.first).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("tab-breached")).to_have_attribute("aria-pressed", "true")
    no_serious_axe_violations(page, "sla board")
    screenshot(page, "sla-board")
    context.close()


def test_a_claim_shows_to_a_second_worker_and_a_documented_call_completes_the_task(
    browser: Browser, stack: Stack
) -> None:
    contact_id = abandon_call(stack, "+12025550122")
    first_context, first = new_page(browser)
    sign_in(first, stack, "wes")
    first.get_by_role("link", name="Follow-ups").click()
    callback = first.locator(f'tr[data-contact-id="{contact_id}"]')
    expect(callback).to_be_visible(timeout=30_000)
    task_id = callback.get_attribute("data-task-id")
    callback.get_by_role("button", name="Claim").click()
    row = f'tr[data-task-id="{task_id}"]'
    expect(first.locator(row).get_by_test_id("claimed-by")).to_have_text("wes")
    no_serious_axe_violations(first, "work queue")
    screenshot(first, "work-queue")

    second_context, second = new_page(browser)
    sign_in(second, stack, "vi")
    second.goto(f"{stack.console_url}/followups")
    expect(second.locator(row).get_by_test_id("claimed-by")).to_have_text("wes", timeout=15_000)
    expect(second.locator(row).get_by_role("button", name="Claim")).to_have_count(0)

    first.locator(row).get_by_role("link").click()
    expect(first.get_by_role("heading", name=re.compile("^Follow-up"))).to_be_visible()
    first.get_by_role("button", name="Show the number (audited)").click()
    expect(first.get_by_test_id("caller-number")).to_contain_text("+12025550122")
    first.get_by_label("Outcome").select_option("reached")
    first.get_by_label(re.compile("^Mood")).fill("6")
    first.get_by_label("Safety plan reviewed").check()
    first.get_by_label("Wants more contact").select_option("no")
    no_serious_axe_violations(first, "call view")
    screenshot(first, "call-view")
    first.get_by_role("button", name="Record the call").click()
    expect(first.get_by_test_id("task-status")).to_have_text("completed", timeout=15_000)
    expect(first.get_by_test_id("attempts")).to_contain_text("reached")
    expect(first.get_by_test_id("attempts")).to_contain_text("wes")
    task = stack.api(stack.followup, f"/v1/followups/{task_id}")
    assert task["status"] == "completed"
    first_context.close()
    second_context.close()


def test_the_charts_draw_the_kpi_apis_numbers_and_the_csv_equals_them(
    browser: Browser, stack: Stack
) -> None:
    context, page = new_page(browser)
    sign_in(page, stack, "sam", role="supervisor")
    contact_id = answer_call(stack.intake.url, CENTER, unique("risk-"), agent="arn:agent/r",
                             caller="+12025550133")  # fmt: skip
    token = token_for("supervisor", [CENTER], sub="sam")
    screened = httpx.post(f"{stack.intake.url}/v1/contacts/{contact_id}/screenings", timeout=10,
                          headers={"Authorization": f"Bearer {token}"},
                          json={"answers": {"q1": True, "q2": True, "q3": True, "q4": True, "q5": False, "q6": False}})  # fmt: skip
    assert screened.status_code == 201
    queue_call(stack)
    page.goto(f"{stack.console_url}/operations")
    service = page.get_by_test_id("chart-service")
    expect(service.locator("svg[role=application]")).to_be_visible(timeout=20_000)
    query = page.evaluate("""() => {
        const d = new Date(); d.setHours(0, 0, 0, 0); const from = d.toISOString();
        d.setDate(d.getDate() + 1); return `center_id=center-01&from=${from}&to=${d.toISOString()}&interval=15m`; }""")
    api = page.evaluate(
        "async (q) => (await fetch(`/api/intake/v1/kpis/operations/intervals?${q}`)).json()", query
    )
    rated = [i for i in api["intervals"] if i["answer_rate"] is not None]
    assert rated, "today has answered contacts"
    # one dot per interval with a rate, on each of the two lines
    expect(service.locator(".recharts-line-dots").first.locator("circle")).to_have_count(len(rated))
    risk = page.get_by_test_id("chart-risk")
    levels_with_screens = sum(1 for n in api["risk_mix"].values() if n)
    expect(
        risk.locator(".recharts-bar-rectangle path, .recharts-bar-rectangle rect")
    ).to_have_count(levels_with_screens)
    heights = {level: n for level, n in api["risk_mix"].items() if n}
    assert heights.get("high", 0) >= 1
    expect(page.get_by_test_id("chart-funnel").locator("svg[role=application]")).to_be_visible()
    expect(page.get_by_test_id("chart-breaches").locator("svg[role=application]")).to_be_visible()

    exported = page.evaluate(
        "async (q) => (await fetch(`/bff/export/kpis.csv?${q}`)).text()", query
    )
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert len(rows) == len(api["intervals"])
    for row, interval in zip(rows, api["intervals"], strict=True):
        for key in ("offered", "answered", "abandoned", "answer_rate", "service_level",
                    "average_speed_to_answer_seconds"):  # fmt: skip
            value = interval[key]
            same = row[key] == "" if value is None else float(row[key]) == float(value)
            assert same, (key, row, interval)
        assert datetime.fromisoformat(row["start"]) == datetime.fromisoformat(interval["start"])
    month = query.replace("interval=15m", "interval=1d")
    funnel = page.evaluate(
        "async (q) => (await fetch(`/api/followup/v1/kpis/followups?${q}`)).json()", month
    )
    outcomes = page.evaluate(
        "async (q) => (await fetch(`/bff/export/followups.csv?${q}`)).text()", month
    )
    by_kind = {
        r.pop("kind"): {k: int(v) for k, v in r.items()}
        for r in csv.DictReader(io.StringIO(outcomes))
    }
    assert by_kind == funnel["funnel"]
    assert sum(k["scheduled"] for k in by_kind.values()) >= 1
    context.close()


def test_a_supervisor_reviews_a_sampled_session_and_the_counselor_sees_it(
    browser: Browser, stack: Stack
) -> None:
    agent = f"arn:agent/{unique('qa-')}"
    contact_id = answer_call(
        stack.intake.url, CENTER, unique("qa-"), agent=agent, caller="+12025550144"
    )
    token = token_for("supervisor", [CENTER], sub="sam")
    headers = {"Authorization": f"Bearer {token}"}

    def opened() -> str | None:
        items = stack.api(stack.sessions, "/v1/sessions", params={"contact_id": contact_id})[
            "items"
        ]
        return items[0]["id"] if items else None

    session_id = eventually(opened, what="the session")
    closed = httpx.post(f"{stack.sessions.url}/v1/sessions/{session_id}/close", headers=headers,
                        json={"disposition": "resolved"}, timeout=30)  # fmt: skip
    assert closed.status_code == 200, closed.text

    context, page = new_page(browser)
    sign_in(page, stack, "sam", role="supervisor")
    page.get_by_role("link", name="Quality").click()
    row = page.locator(f'tr[data-session-id="{session_id}"]')
    expect(row).to_be_visible(timeout=15_000)
    row.get_by_role("button").click()
    review = page.get_by_test_id("review")
    review.get_by_label("Safety").select_option("5")
    review.get_by_label("Rapport").select_option("4")
    review.get_by_label("Comments").fill("Safety plan built with the caller's own words")
    no_serious_axe_violations(page, "quality")
    screenshot(page, "quality")
    review.get_by_role("button", name="Save review").click()
    expect(review.get_by_role("status")).to_contain_text("Review saved")
    expect(row).to_contain_text("reviewed")
    context.close()

    context, page = new_page(browser)
    sign_in(page, stack, "qa-counselor", agent=agent)
    page.goto(f"{stack.console_url}/contacts/{contact_id}")
    mine = page.get_by_test_id("my-review")
    expect(mine).to_contain_text("Quality review by sam", timeout=15_000)
    expect(mine).to_contain_text("safety 5/5")
    expect(mine).to_contain_text("Safety plan built with the caller's own words")
    context.close()
