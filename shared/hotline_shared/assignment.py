"""Who may touch a contact or a session (least privilege). Pure.

A counselor works only on what is assigned to them: the contact or session leg they answered
(the provider names them: their user id or one of their agent ids, the token's `agent_ids`), or
one they took. A contact no provider assigned (Twilio voice without TaskRouter, a chat) is taken
by the first counselor who works on it. Anything else needs a supervisor, or the counselor's
break-glass: a reason (`X-Break-Glass-Reason`), audited, and a supervisor is alerted.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from enum import StrEnum

from hotline_shared.audit import AuditLog
from hotline_shared.auth import BREAK_GLASS_HEADER, Principal, Role
from hotline_shared.events import BreakGlass, BreakGlassData, new_event
from hotline_shared.mongo import EventLog
from hotline_shared.problems import Problem


class Access(StrEnum):
    ALLOWED = "allowed"
    TAKE = "take"  # nobody's yet: it becomes this counselor's
    BREAK_GLASS = "break-glass"  # someone else's, opened with a reason
    REFUSED = "refused"


def access(who: Principal, *, owners: Collection[str], assigned: Collection[str]) -> Access:
    """`owners`: who the provider says answered (user or agent ids, every leg); `assigned`:
    the users who took it."""
    if who.role is not Role.COUNSELOR:
        return Access.ALLOWED  # supervisors; services (routes decide which roles come here)
    mine = {who.sub, *who.agent_ids}
    if mine & set(owners) or who.sub in assigned:
        return Access.ALLOWED
    if not owners and not assigned:
        return Access.TAKE
    return Access.BREAK_GLASS if who.break_glass else Access.REFUSED


def not_assigned(field: str) -> Problem:
    return Problem(403, "Not assigned to you", field=field,
                   detail=f"ask a supervisor, or give a reason in {BREAK_GLASS_HEADER}")  # fmt: skip


async def break_glass(audit: AuditLog, events: EventLog, who: Principal, *, center_id: str,
                      contact_id: str, resource: str, resource_id: str, service: str,
                      now: datetime) -> None:  # fmt: skip
    """Audit every opening with its reason; alert a supervisor once per user and resource."""
    await audit.record(center_id=center_id, action=f"{resource}.break-glass", actor=who.sub,
                       role=str(who.role), reason=who.break_glass or "", at=now,
                       contact_id=contact_id, resource_id=resource_id)  # fmt: skip
    data = BreakGlassData(contact_id=contact_id, user=who.sub, service=service, resource=resource,
                          resource_id=resource_id, at=now)  # fmt: skip
    await events.emit(new_event(BreakGlass, data=data, center_id=center_id,
                                source=f"hotline/{service}", time=now,
                                cause=(who.sub, resource, resource_id)))  # fmt: skip
