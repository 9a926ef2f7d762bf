"""The contact's risk is its newest screening's, whatever order screenings are recorded in."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hotline_intake.domain.facts import newest_wins

from tests.factories import T0

FACTS = [
    (T0, "b"),
    (T0, "a"),
    (T0 + timedelta(milliseconds=1), "a"),
    (T0 - timedelta(seconds=1), "z"),
]


def test_the_first_fact_is_always_recorded() -> None:
    assert all(newest_wins(None, fact) for fact in FACTS)


def test_every_order_of_arrival_ends_with_the_same_fact() -> None:
    """Later by time; at the same instant (milliseconds), the greater id: one answer for
    every replica and every replay."""
    for order in itertools.permutations(FACTS):
        recorded = None
        for fact in order:
            if newest_wins(recorded, fact):
                recorded = fact
        assert recorded == (T0 + timedelta(milliseconds=1), "a")


def test_the_same_fact_again_changes_nothing() -> None:
    assert not newest_wins((T0, "a"), (T0, "a"))
    assert newest_wins((T0, "a"), (T0, "b")) and not newest_wins((T0, "b"), (T0, "a"))
