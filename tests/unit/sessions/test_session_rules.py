from datetime import UTC, datetime, timedelta

import pytest
from hotline_sessions.domain.documentation import Notes, SafetyPlan
from hotline_sessions.domain.session import (
    Disposition,
    Overdue,
    ReasonRequired,
    RiskLowered,
    SessionClosed,
    Status,
    VersionConflict,
    can_add_addendum,
    check_write,
    default_disposition,
    overdue_after_ended,
    overdue_decision,
    risk_at_close,
    sign_addendum,
    supersedes,
    verify_addendum,
)  # fmt: skip
from hotline_shared.events import RiskLevel
from pydantic import ValidationError

T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
KEY = b"k" * 32


@pytest.mark.parametrize("current", [0, 1, 7])
def test_a_write_on_the_current_version_creates_the_next(current: int) -> None:
    assert check_write(status=Status.OPEN, current=current, base=current) == current + 1


@pytest.mark.parametrize(("current", "base"), [(1, 0), (5, 4), (2, 3), (0, 1)])
def test_a_stale_or_future_base_is_a_conflict_carrying_the_current_version(
    current: int, base: int
) -> None:
    with pytest.raises(VersionConflict) as err:
        check_write(status=Status.OPEN, current=current, base=base)
    assert err.value.current == current


def test_a_closed_session_takes_no_direct_writes() -> None:
    with pytest.raises(SessionClosed):
        check_write(status=Status.CLOSED, current=3, base=3)


def test_addenda_only_amend_closed_records() -> None:
    assert can_add_addendum(Status.CLOSED)
    assert not can_add_addendum(Status.OPEN)


def test_addendum_signature_covers_author_time_and_text() -> None:
    signed = sign_addendum(KEY, session_id="s1", author="c7", at=T0, text="called back, safe")
    assert verify_addendum(KEY, signed, session_id="s1", text="called back, safe")
    assert not verify_addendum(KEY, signed, session_id="s1", text="called back, unsafe")
    assert not verify_addendum(KEY, signed, session_id="s2", text="called back, safe")
    assert not verify_addendum(b"x" * 32, signed, session_id="s1", text="called back, safe")


@pytest.mark.parametrize(
    ("given", "given_esc", "latest", "latest_esc", "level", "escalated"),
    [
        (None, None, None, False, RiskLevel.NONE, False),
        (None, None, RiskLevel.MODERATE, False, RiskLevel.MODERATE, False),
        (None, None, RiskLevel.LOW, True, RiskLevel.HIGH, True),
        (RiskLevel.HIGH, None, RiskLevel.LOW, False, RiskLevel.HIGH, False),
        (RiskLevel.MODERATE, True, None, False, RiskLevel.HIGH, True),
        (RiskLevel.MODERATE, None, RiskLevel.MODERATE, False, RiskLevel.MODERATE, False),
    ],
)
def test_risk_at_close_defaults_to_the_latest_assessed_or_escalated(
    given: RiskLevel | None, given_esc: bool | None, latest: RiskLevel | None, latest_esc: bool,
    level: RiskLevel, escalated: bool,
) -> None:  # fmt: skip
    risk = risk_at_close(
        given=given, given_escalated=given_esc, latest=latest, latest_escalated=latest_esc
    )
    assert (risk.level, risk.escalated, risk.lowered) == (level, escalated, False)


ORDER = [RiskLevel.NONE, RiskLevel.LOW, RiskLevel.MODERATE, RiskLevel.HIGH]


@pytest.mark.parametrize("given", [None, *ORDER])
@pytest.mark.parametrize("given_esc", [None, True, False])
@pytest.mark.parametrize("latest", [None, *ORDER])
@pytest.mark.parametrize("latest_esc", [True, False])
@pytest.mark.parametrize(
    ("supervisor", "reason"), [(False, None), (False, "x"), (True, None), (True, "why")]
)
def test_a_close_never_carries_less_risk_than_assessed_unless_a_supervisor_says_why(
    given: RiskLevel | None, given_esc: bool | None, latest: RiskLevel | None, latest_esc: bool,
    supervisor: bool, reason: str | None,
) -> None:  # fmt: skip
    """The whole space: 5 x 3 x 5 x 2 x 4 = 600 closes."""
    floor = RiskLevel.HIGH if latest_esc else latest or RiskLevel.NONE
    lowers = given is not None and ORDER.index(given) < ORDER.index(floor)
    clears = latest_esc and given_esc is False
    kwargs = {"given": given, "given_escalated": given_esc, "latest": latest,
              "latest_escalated": latest_esc, "by_supervisor": supervisor, "reason": reason}  # fmt: skip
    if (lowers or clears) and not supervisor:
        with pytest.raises(RiskLowered) as refused:
            risk_at_close(**kwargs)  # type: ignore[arg-type]
        assert refused.value.field == ("risk_level" if lowers else "escalated")
        return
    if lowers or clears:
        if reason is None:
            with pytest.raises(ReasonRequired):
                risk_at_close(**kwargs)  # type: ignore[arg-type]
            return
        risk = risk_at_close(**kwargs)  # type: ignore[arg-type]
        assert risk.lowered and risk.level == (given or floor)
        return
    risk = risk_at_close(**kwargs)  # type: ignore[arg-type]
    assert not risk.lowered
    assert ORDER.index(risk.level) >= ORDER.index(floor)
    assert risk.escalated == (latest_esc or bool(given_esc))
    assert risk.level == (RiskLevel.HIGH if risk.escalated else given or floor)


@pytest.mark.parametrize(
    ("escalated", "plan", "expected"),
    [(True, True, Disposition.EMERGENCY_SERVICES_DISPATCHED), (True, False, Disposition.EMERGENCY_SERVICES_DISPATCHED),
     (False, True, Disposition.SAFETY_PLAN_MADE), (False, False, Disposition.RESOLVED)],
)  # fmt: skip
def test_disposition_defaults(escalated: bool, plan: bool, expected: Disposition) -> None:
    assert default_disposition(escalated=escalated, has_safety_plan=plan) == expected


@pytest.mark.parametrize(
    ("open_sessions", "minutes", "decision"),
    [(1, 29.99, None), (0, 29.99, None), (1, 30, Overdue.FIRED), (2, 45, Overdue.FIRED),
     (0, 45, Overdue.NOT_NEEDED), (0, 30, Overdue.NOT_NEEDED)],
)  # fmt: skip
def test_documentation_is_overdue_after_the_window_with_a_session_open(
    open_sessions: int, minutes: float, decision: Overdue | None
) -> None:
    now = T0 + timedelta(minutes=minutes)
    assert (
        overdue_decision(
            ended_at=T0, open_sessions=open_sessions, now=now, window=timedelta(minutes=30)
        )
        is decision
    )


@pytest.mark.parametrize(
    ("current", "after"),
    [(None, Overdue.PENDING), (Overdue.PENDING, Overdue.PENDING), (Overdue.FIRED, Overdue.FIRED),
     (Overdue.NOT_NEEDED, Overdue.NOT_NEEDED)],
)  # fmt: skip
def test_a_replayed_ended_never_reopens_a_decided_overdue_check(
    current: Overdue | None, after: Overdue
) -> None:
    assert overdue_after_ended(current) is after


@pytest.mark.parametrize(
    ("recorded", "at", "wins"),
    [(None, T0, True), (T0, T0 + timedelta(seconds=1), True), (T0, T0, False),
     (T0 + timedelta(seconds=1), T0, False)],
)  # fmt: skip
def test_the_newest_fact_about_a_contact_wins(
    recorded: datetime | None, at: datetime, wins: bool
) -> None:
    assert supersedes(recorded, at) is wins


def test_notes_reject_unknown_fields_and_out_of_range_distress() -> None:
    with pytest.raises(ValidationError) as err:
        Notes.model_validate({"exploring": {"distress": 11}})
    assert "distress" in str(err.value)
    with pytest.raises(ValidationError) as err:
        Notes.model_validate({"caller_phone": "x"})
    assert "caller_phone" in str(err.value)
    with pytest.raises(ValidationError):
        Notes.model_validate({"risk_domains": {"desire": ["not-a-domain"]}})


def test_safety_plan_has_the_six_sections_and_a_reason_for_living() -> None:
    assert set(SafetyPlan.model_fields) == {
        "warning_signs", "internal_coping", "distracting_people_and_places", "people_to_ask_for_help",
        "professionals_and_agencies", "making_environment_safe", "reason_for_living",
    }  # fmt: skip
