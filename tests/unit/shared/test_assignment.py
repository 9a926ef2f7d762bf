"""Least privilege: who may work on a contact or session. Exhaustive over the cases."""

from __future__ import annotations

import itertools

import pytest
from hotline_shared.assignment import Access, access
from hotline_shared.auth import Principal, Role

OWNERS = [None, "me", "agent-7", "someone-else"]
ASSIGNED = [[], ["me"], ["someone-else"], ["someone-else", "me"]]


def who(role: Role = Role.COUNSELOR, reason: str | None = None) -> Principal:
    return Principal(sub="me", role=role, centers=("center-01",), agent_ids=("agent-7",),
                     break_glass=reason)  # fmt: skip


@pytest.mark.parametrize(("owner", "assigned", "reason"),
                         list(itertools.product(OWNERS, ASSIGNED, [None, "caller asked for me"])))  # fmt: skip
def test_a_counselor_works_only_on_their_own_takes_the_unowned_and_breaks_glass_else(
    owner: str | None, assigned: list[str], reason: str | None
) -> None:
    decision = access(who(reason=reason), owners=[owner] if owner else [], assigned=assigned)
    mine = owner in ("me", "agent-7") or "me" in assigned
    if mine:
        assert decision is Access.ALLOWED
    elif owner is None and not assigned:
        assert decision is Access.TAKE
    else:
        assert decision is (Access.BREAK_GLASS if reason else Access.REFUSED)


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN, Role.SERVICE])
@pytest.mark.parametrize(("owner", "assigned"), list(itertools.product(OWNERS, ASSIGNED)))
def test_everyone_but_a_counselor_is_not_limited_by_assignment(
    role: Role, owner: str | None, assigned: list[str]
) -> None:
    assert access(who(role), owners=[owner] if owner else [], assigned=assigned) is Access.ALLOWED
