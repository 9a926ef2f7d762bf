"""The session record's rules: versions, closing, addenda, overdue documentation. Pure."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hotline_shared.events import RiskLevel


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Disposition(StrEnum):
    RESOLVED = "resolved"
    REFERRED = "referred"
    SAFETY_PLAN_MADE = "safety-plan-made"
    EMERGENCY_SERVICES_DISPATCHED = "emergency-services-dispatched"
    MOBILE_CRISIS_DISPATCHED = "mobile-crisis-dispatched"
    CALLER_DISCONNECTED = "caller-disconnected"
    TRANSFERRED = "transferred"
    THIRD_PARTY_CALL = "third-party-call"
    PRANK_OR_MISDIAL = "prank-or-misdial"


class CaringChannel(StrEnum):
    SMS = "sms"
    PHONE = "phone"
    EMAIL = "email"
    LETTER = "letter"


class VersionConflict(Exception):
    """A write based on a version that is no longer current."""

    def __init__(self, current: int) -> None:
        super().__init__(f"stale write: current version is {current}")
        self.current = current


class SessionClosed(Exception):
    """The record is closed: changes go in as signed addenda."""


def check_write(*, status: Status, current: int, base: int) -> int:
    """The version a write based on `base` creates, or why it may not be written."""
    if status is Status.CLOSED:
        raise SessionClosed("session is closed; add an addendum instead")
    if base != current:
        raise VersionConflict(current)
    return current + 1


@dataclass(frozen=True)
class RiskAtClose:
    level: RiskLevel
    escalated: bool
    lowered: bool = False  # by a supervisor, with a reason


LEVELS = (RiskLevel.NONE, RiskLevel.LOW, RiskLevel.MODERATE, RiskLevel.HIGH)


class RiskLowered(Exception):
    """Closing below the assessed risk, or clearing an escalation, is a supervisor's call."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is below what was assessed for this contact")
        self.field = field


class ReasonRequired(Exception):
    """A supervisor lowering the risk at close says why."""


def risk_floor(*, latest: RiskLevel | None, latest_escalated: bool) -> RiskLevel:
    """The lowest risk a close may carry: the latest assessed; an escalation is high."""
    return RiskLevel.HIGH if latest_escalated else latest or RiskLevel.NONE


def risk_at_close(
    *, given: RiskLevel | None, given_escalated: bool | None, latest: RiskLevel | None,
    latest_escalated: bool, by_supervisor: bool = False, reason: str | None = None,
) -> RiskAtClose:  # fmt: skip
    """The risk a session closes with: never below the contact's latest risk.assessed and
    risk.escalated, unless a supervisor lowers it and says why. Unspecified means the
    latest assessed (an escalation stays an escalation)."""
    floor = risk_floor(latest=latest, latest_escalated=latest_escalated)
    lowers_level = given is not None and LEVELS.index(given) < LEVELS.index(floor)
    clears_escalation = latest_escalated and given_escalated is False
    escalated = latest_escalated if given_escalated is None else given_escalated
    if lowers_level or clears_escalation:
        if not by_supervisor:
            raise RiskLowered("risk_level" if lowers_level else "escalated")
        if not (reason and reason.strip()):
            raise ReasonRequired("a reason is required to lower the risk at close")
        return RiskAtClose(level=given or floor, escalated=escalated, lowered=True)
    level = given if given is not None else floor
    if escalated:
        level = RiskLevel.HIGH
    return RiskAtClose(level=level, escalated=escalated)


def default_disposition(*, escalated: bool, has_safety_plan: bool) -> Disposition:
    if escalated:
        return Disposition.EMERGENCY_SERVICES_DISPATCHED
    if has_safety_plan:
        return Disposition.SAFETY_PLAN_MADE
    return Disposition.RESOLVED


@dataclass(frozen=True)
class Addendum:
    author: str
    at: datetime
    text_sha256: str
    signature: str


def sign_addendum(key: bytes, *, session_id: str, author: str, at: datetime, text: str) -> Addendum:
    """An addendum is signed over who, when, which session and what text (by digest)."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    message = f"{session_id}|{author}|{at.isoformat()}|{digest}".encode()
    signature = hmac.new(key, message, hashlib.sha256).hexdigest()
    return Addendum(author=author, at=at, text_sha256=digest, signature=signature)


def verify_addendum(key: bytes, addendum: Addendum, *, session_id: str, text: str) -> bool:
    expected = sign_addendum(
        key, session_id=session_id, author=addendum.author, at=addendum.at, text=text
    )
    return (
        hmac.compare_digest(expected.signature, addendum.signature)
        and expected.text_sha256 == addendum.text_sha256
    )


def can_add_addendum(status: Status) -> bool:
    """Addenda amend closed records; an open record is simply edited."""
    return status is Status.CLOSED


def overdue_at(ended_at: datetime, window: timedelta) -> datetime:
    return ended_at + window


def supersedes(recorded_at: datetime | None, at: datetime) -> bool:
    """The newest fact about a contact wins, in whatever order facts arrive."""
    return recorded_at is None or at > recorded_at


class Overdue(StrEnum):
    """Where a contact stands on the documentation-overdue check."""

    PENDING = "pending"  # ended; checked once the window has passed
    FIRED = "fired"  # overdue was announced (once)
    NOT_NEEDED = "not-needed"  # documented in time


def overdue_after_ended(current: Overdue | None) -> Overdue:
    """An `ended` starts the check; a replayed `ended` changes nothing already decided."""
    return current or Overdue.PENDING


def overdue_decision(*, ended_at: datetime, open_sessions: int, now: datetime,
                     window: timedelta) -> Overdue | None:  # fmt: skip
    """A pending check's outcome: fire, not needed, or None (not yet due)."""
    if now < overdue_at(ended_at, window):
        return None
    return Overdue.FIRED if open_sessions > 0 else Overdue.NOT_NEEDED
