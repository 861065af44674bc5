"""The state a running process reads, kept current as it records events."""

from itertools import takewhile
from pathlib import Path

from twisted.internet.defer import Deferred

from nano.events import Event

from ._load import fingerprint, load_with_last_event, write_projected
from ._projection import Projected, Projection, fold


class LiveProjection:
    """
    A projection kept at the journal's end: each event is appended (and
    synced) first, and folded only then.

    :ivar current: the state and position readers see; replaced, never
        changed, so a reader may keep a reference.
    """

    def __init__(self, projection: Projection, journal):
        """
        Load the state at the journal's end, from the newest snapshot
        and the journal's tail.
        """
        self.projection = projection
        self.journal = journal
        self.current, self._last_event = load_with_last_event(
            projection, journal
        )

    def record(self, event: Event) -> Deferred[Projected]:
        """
        Append ``event`` to the journal, then fold it.

        :return: a Deferred that fires with the new :attr:`current` once
            the event is on disk, or fails with the journal's error, in
            which case the state is unchanged.
        """
        appended = self.journal.append(event)
        appended.addCallback(self._fold, event)
        return appended

    def compact(self) -> Path:
        """
        Write a snapshot of :attr:`current`, so that the next start-up
        replays only the events after it.
        """
        return write_projected(
            self.projection, self.journal, self.current, self._last_event
        )

    def _fold(self, seq: int, event: Event) -> Projected:
        if seq == self.current.position + 1:
            events = [(seq, event)]
        else:
            # Another writer appended to this journal since the last fold,
            # so fold its events from disk too, up to this one.
            # NOTE: until this process records an event, those events are
            # missing from current.
            events = takewhile(
                lambda pair: pair[0] <= seq,
                self.journal.read(after=self.current.position),
            )
        self.current = fold(self.projection, events, self.current)
        self._last_event = fingerprint(event)
        return self.current
