"""The counselor console in real Chromium against the real services: sign in, see an answered
contact appear, screen, write notes, build a safety plan, escalate, close — and the follow-up
task exists; a sessions restart, a reload and a second editor lose nothing; another center
sees nothing. axe-core checks every screen; the screenshots go to docs/console/."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    Stack,
    eventually,
    new_page,
    no_serious_axe_violations,
    screenshot,
    sign_in,
)
from tests.browser.telephony import answer_call
from tests.support import unique

CALLER = "+12025550143"


def open_contact(page: Page, stack: Stack, *, agent: str, caller: str = CALLER) -> str:
    """A call answered now by `agent`: it appears in My contacts; open it."""
    contact_id = answer_call(
        stack.intake.url, "center-01", unique("c-"), agent=agent, caller=caller
    )
    row = page.locator(f'tr[data-contact-id="{contact_id}"]')
    expect(row).to_be_visible(timeout=10_000)  # pushed by the live feed, no reload
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Contact "))).to_be_visible()
    expect(page.get_by_label("Other notes")).to_be_visible(timeout=20_000)  # its session opened
    return contact_id


def session_of(stack: Stack, contact_id: str) -> dict:
    items = eventually(lambda: stack.api(stack.sessions, "/v1/sessions",
                                         params={"contact_id": contact_id})["items"],
                       what="the session")  # fmt: skip
    return items[0]


def saved(page: Page, what: str = "Notes") -> None:
    expect(page.get_by_test_id(f"save-{what}")).to_have_attribute("data-save-state", "saved",
                                                                  timeout=30_000)  # fmt: skip


def test_counselor_documents_a_call_from_answer_to_follow_up(
    browser: Browser, stack: Stack
) -> None:
    context, page = new_page(browser)
    page.goto(stack.console_url)
    expect(page.get_by_role("heading", name="Development sign-in")).to_be_visible()
    no_serious_axe_violations(page, "sign-in")
    screenshot(page, "sign-in")
    agent = f"arn:aws:connect:agent/{unique('ana-')}"
    sign_in(page, stack, "ana", agent=agent)
    contact_id = open_contact(page, stack, agent=agent)
    page.goto(stack.console_url)
    expect(page.locator(f'tr[data-contact-id="{contact_id}"]')).to_be_visible()
    no_serious_axe_violations(page, "my contacts")
    screenshot(page, "my-contacts")
    page.locator(f'tr[data-contact-id="{contact_id}"]').get_by_role("link").click()

    # Screen by keyboard: y y (thoughts) → q3-q5 asked; y (method) n n; q6 n → moderate
    expect(page.locator("li.current")).to_have_attribute("data-item", "q1")
    for key in "yyynnn":
        page.keyboard.press(key)
    expect(page.get_by_test_id("triaged-level")).to_contain_text("moderate")
    no_serious_axe_violations(page, "contact")
    page.keyboard.press("Alt+Enter")
    expect(page.get_by_test_id("screen-result")).to_contain_text("moderate")
    expect(page.get_by_test_id("contact-risk")).to_have_text("moderate", timeout=10_000)

    # Notes by the steps, and the safety plan: autosaved
    page.get_by_label("What happened (precipitating event)").fill("Lost job today")
    page.get_by_label("Rapport", exact=True).fill("Caller named their sister as support")
    saved(page)
    page.get_by_label("1. Warning signs").fill("Not sleeping\nDrinking alone")
    page.get_by_label("4. People I can ask for help").fill("Sister Maria")
    saved(page, "Safety plan")
    screenshot(page, "contact")
    risk = page.get_by_label(re.compile(r"^Risk level"))
    expect(risk).to_have_value("moderate")  # pre-filled from the assessment
    expect(risk.locator("option[value=low]")).to_be_disabled()  # lowering needs a supervisor

    # Escalate in two keystrokes after Alt+E: reason 1, action 1 (EMS dispatched)
    page.keyboard.press("Alt+e")
    dialog = page.get_by_role("dialog", name="Escalate imminent risk")
    expect(dialog).to_be_visible()
    no_serious_axe_violations(page, "escalate")
    screenshot(page, "escalate")
    page.keyboard.press("1")
    page.keyboard.press("1")
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("escalations")).to_contain_text("attempt in progress")
    page.keyboard.press("Alt+m")  # EMS confirmed later
    expect(page.get_by_test_id("ems-status")).to_contain_text("reached the caller")

    # Close: an escalation makes it high; follow-up consent
    expect(risk).to_have_value("high")
    page.get_by_label("Disposition").select_option("emergency-services-dispatched")
    page.get_by_label("Caller agrees to a follow-up call").check()
    page.get_by_role("button", name="Close session").click()
    expect(page.get_by_test_id("closed")).to_be_visible(timeout=20_000)

    session = session_of(stack, contact_id)
    assert session["status"] == "closed"
    assert session["notes"]["exploring"]["precipitating_event"] == "Lost job today"
    assert session["safety_plan"]["warning_signs"] == ["Not sleeping", "Drinking alone"]
    assert session["close"]["escalated"] is True
    tasks = eventually(lambda: stack.api(stack.followup, "/v1/followups", params={
        "center_id": "center-01", "contact_id": contact_id})["items"], what="the follow-up task")  # fmt: skip
    assert {t["kind"] for t in tasks} & {"safety-follow-up", "follow-up"}, tasks

    # The same caller calls again: their history is there, with the last safety plan
    page.goto(stack.console_url)
    open_contact(page, stack, agent=agent)
    history = page.get_by_test_id("history")
    expect(history).to_contain_text("1 earlier contact(s)", timeout=10_000)
    expect(history).to_contain_text("Sister Maria")
    expect(history).to_contain_text("moderate")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    no_serious_axe_violations(page, "shortcuts")
    screenshot(page, "shortcuts")
    context.close()


def test_every_character_survives_a_sessions_restart(browser: Browser, stack: Stack) -> None:
    context, page = new_page(browser)
    agent = f"agent-{unique('')}"
    sign_in(page, stack, "bo", agent=agent)
    contact_id = open_contact(page, stack, agent=agent)
    notes = page.get_by_label("Other notes")
    notes.click()
    page.keyboard.type("The caller says the night shift ", delay=15)
    saved(page)
    stack.sessions.kill()  # SIGKILL mid-call
    page.keyboard.type("was the worst part of the week; ", delay=15)
    expect(page.get_by_test_id("save-Notes")).to_have_attribute("data-save-state", "offline",
                                                                 timeout=15_000)  # fmt: skip
    page.keyboard.type("they slept at noon.", delay=15)
    stack.sessions.start()
    stack.sessions.wait_ready_blocking()
    saved(page)
    expected = "The caller says the night shift was the worst part of the week; they slept at noon."
    assert session_of(stack, contact_id)["notes"]["free_text"] == expected
    context.close()


def test_a_reload_mid_sentence_loses_nothing(browser: Browser, stack: Stack) -> None:
    context, page = new_page(browser)
    agent = f"agent-{unique('')}"
    sign_in(page, stack, "cy", agent=agent)
    contact_id = open_contact(page, stack, agent=agent)
    page.get_by_label("Other notes").click()
    page.keyboard.type("Half a sente", delay=5)
    page.reload()  # before the pause that would have sent it
    expect(page.get_by_label("Other notes")).to_have_value("Half a sente", timeout=20_000)
    page.get_by_label("Other notes").press("End")
    page.keyboard.type("nce, finished.")
    saved(page)
    assert session_of(stack, contact_id)["notes"]["free_text"] == "Half a sentence, finished."
    context.close()


def test_a_conflict_from_a_second_browser_is_merged_not_overwritten(
    browser: Browser, stack: Stack
) -> None:
    agent = f"agent-{unique('')}"
    first_context, first = new_page(browser)
    sign_in(first, stack, "di", agent=agent)
    contact_id = open_contact(first, stack, agent=agent)
    second_context, second = new_page(browser)
    sign_in(second, stack, "di", agent=agent)
    second.goto(f"{stack.console_url}/contacts/{contact_id}")
    second.get_by_label("Rapport", exact=True).fill("Written in the second window")
    saved(second)
    first.get_by_label("Rapport", exact=True).fill("Written in the first window")
    dialog = first.get_by_test_id("conflict")
    expect(dialog).to_be_visible(timeout=20_000)
    expect(dialog.get_by_test_id("mine")).to_have_text("Written in the first window")
    expect(dialog.get_by_test_id("theirs")).to_have_text("Written in the second window")
    no_serious_axe_violations(first, "conflict")
    screenshot(first, "conflict")
    dialog.get_by_role("button", name="Save merged version").click()
    saved(first)
    rapport = session_of(stack, contact_id)["notes"]["rapport"]
    assert rapport == "Written in the second window\nWritten in the first window"
    first_context.close()
    second_context.close()


def test_a_counselor_of_another_center_sees_nothing_of_the_contact(
    browser: Browser, stack: Stack
) -> None:
    agent = f"agent-{unique('')}"
    owner_context, owner = new_page(browser)
    sign_in(owner, stack, "ed", agent=agent)
    contact_id = open_contact(owner, stack, agent=agent)
    other_context, other = new_page(browser)
    sign_in(other, stack, "fay", center="center-02", agent=agent)  # even the same agent id
    expect(other.locator(f'tr[data-contact-id="{contact_id}"]')).to_have_count(0)
    other.goto(f"{stack.console_url}/contacts/{contact_id}")
    expect(other.get_by_role("alert")).to_contain_text("Unknown contact")
    statuses = other.evaluate(
        """async (id) => Promise.all([
            `/api/intake/v1/contacts/${id}`, `/api/intake/v1/contacts/${id}/history`,
            `/api/sessions/v1/sessions?contact_id=${id}`, `/bff/contacts/${id}/history`,
        ].map(async (u) => [u, (await fetch(u)).status, await (await fetch(u)).text()]))""",
        contact_id,
    )
    for url, status, body in statuses:
        assert status in (200, 404), (url, status)
        assert contact_id not in body or status == 404, (url, body)
        if status == 200:
            assert '"items":[]' in body.replace(" ", ""), (url, body)
    owner_context.close()
    other_context.close()
