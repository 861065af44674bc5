"""Tests for the Projection base class: handlers and the default fold."""

import pytest

from nano.events import Event, EventRegistry, utc_time
from nano.projections import Projected, Projection, fold

T0 = utc_time(1_796_400_000)
registry = EventRegistry()


@registry.event("CounterIncreased")
class CounterIncreased(Event):
    """A test event: the counter went up by one."""


@registry.event("CounterNoted")
class CounterNoted(Event):
    """A test event that the counter projection has no handler for."""


class CounterProjection(Projection):
    """Counts CounterIncreased events through a plain handler."""

    name = "counter"
    registry = registry
    handlers = {CounterIncreased: lambda state, event: state + 1}

    def initial(self) -> int:
        return 0


def increased():
    return CounterIncreased(aggregate_id="c", time=T0)


def test_handlers_fold_in_order():
    """fold() applies each event's handler, and skips other types."""
    events = [
        (1, increased()),
        (2, CounterNoted(aggregate_id="c", time=T0)),
        (4, increased()),
    ]
    assert fold(CounterProjection(), events) == Projected(2, 4)


def test_apply_all_default_applies_each():
    """The default apply_all gives the result of apply on each event."""
    projection = CounterProjection()
    assert projection.apply_all(5, [increased(), increased()]) == 7
    assert projection.apply(5, increased()) == 6


def test_fold_continues_from_start():
    """fold() continues from a given state and position."""
    projected = fold(CounterProjection(), [(8, increased())], Projected(3, 7))
    assert projected == Projected(4, 8)


def test_fold_rejects_repeated_sequence():
    """A sequence number that repeats is an error naming both numbers."""
    events = [(1, increased()), (1, increased())]
    message = r"event 1 .* position 1 of projection .counter."
    with pytest.raises(ValueError, match=message):
        fold(CounterProjection(), events)
