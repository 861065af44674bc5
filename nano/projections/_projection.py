"""The projection interface, and the fold of events into state."""

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

import attrs

from nano.events import Event, EventRegistry

Handler = Callable[[Any, Event], Any]


class SnapshotFormatError(ValueError):
    """
    A snapshot's JSON does not have the shape this projection writes.

    Snapshots are a cache of the journal, so the caller can drop such a
    snapshot and replay the whole journal instead.
    """


class Projection:
    """
    A pure fold of events into one process's state.

    Subclasses set :attr:`name`, :attr:`registry` and :attr:`handlers`
    (or override :meth:`apply` and :meth:`apply_all`), and implement
    :meth:`initial`, :meth:`to_json` and :meth:`from_json`.
    States are immutable values (frozen attrs classes and pyrsistent
    collections), so that a fold never changes a state that a reader
    holds.
    """

    #: The name used for snapshots and for ``nano-journal --projection``.
    name: ClassVar[str] = ""
    #: The event types that this projection's journal holds.
    registry: ClassVar[EventRegistry]
    #: The handler for each event class it folds, each a pure function
    #: ``handler(state, event) -> state``.
    handlers: ClassVar[Mapping[type[Event], Handler]] = {}

    def initial(self):
        """Return the state before the first event."""
        raise NotImplementedError

    def apply(self, state, event: Event):
        """
        Return the state after ``event``.

        An event of a type without a handler leaves the state unchanged.
        """
        handler = self.handlers.get(type(event))
        if handler is None:
            return state
        return handler(state, event)

    def apply_all(self, state, events: Iterable[Event]):
        """
        Return the state after ``events``, applied in order.

        The result equals that of :meth:`apply` on each event in turn.
        Subclasses override this to fold a long replay faster, for
        example by gathering changes in dicts and updating their
        pyrsistent maps once at the end.
        """
        for event in events:
            state = self.apply(state, event)
        return state

    def to_json(self, state):
        """Return ``state`` as a JSON value, for a snapshot."""
        raise NotImplementedError

    def from_json(self, data):
        """
        Return the state that :meth:`to_json` turned into ``data``.

        :raises SnapshotFormatError: ``data`` has another shape or version.
        """
        raise NotImplementedError


@attrs.frozen
class Projected:
    """
    A projection's state together with the journal position it reflects.

    :ivar position: the sequence number of the last event folded into
        ``state``, or 0 when none was.
    """

    state: object
    position: int


def fold(
    projection: Projection,
    events: Iterable[tuple[int, Event]],
    start: Projected | None = None,
) -> Projected:
    """
    Fold ``(seq, event)`` pairs, in sequence order, into a state.

    :param start: the state to continue from; by default the projection's
        initial state at position 0.
    :raises ValueError: a sequence number is not above the position
        reached, which would fold an event twice or out of order.
    """
    if start is None:
        start = Projected(projection.initial(), 0)
    ordered = _InOrder(projection.name, events, start.position)
    state = projection.apply_all(start.state, ordered)
    return Projected(state, ordered.position)


class _InOrder:
    """
    The events of ``(seq, event)`` pairs, checked to be in sequence order
    after ``position``; :attr:`position` is the last sequence number read.
    """

    def __init__(self, name: str, pairs, position: int):
        self.name = name
        self.pairs = pairs
        self.position = position

    def __iter__(self) -> Iterator[Event]:
        for seq, event in self.pairs:
            if seq <= self.position:
                raise ValueError(
                    f"event {seq} ({event.type_name}) is not after position "
                    f"{self.position} of projection {self.name!r}: "
                    "events must be folded once each, in sequence order"
                )
            self.position = seq
            yield event
