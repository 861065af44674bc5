"""
Start-up from the newest snapshot plus the journal tail, and compaction.

A snapshot stores, beside the projection's JSON state, the type,
aggregate id and time of the event at its position. Start-up compares
them with the journal, so that a snapshot taken before the journal was
cut and appended to again is not mistaken for a prefix of the new one.
"""

from collections.abc import Iterator
from pathlib import Path

from twisted.logger import Logger

from nano.events import Event, format_time, read_snapshot, write_snapshot

from ._projection import Projected, Projection, SnapshotFormatError, fold

log = Logger()


def load(projection: Projection, journal) -> Projected:
    """
    Return the projection's state at the journal's last event: the
    newest usable snapshot, with the events after it folded in.

    A snapshot that does not match the journal (another shape, a
    position past the journal's end, or another event at its position)
    is ignored with a warning, and the whole journal is replayed.
    """
    projected, _ = load_with_last_event(projection, journal)
    return projected


def compact(projection: Projection, journal) -> Path:
    """
    Write a snapshot of the projection at the journal's last event.

    :return: the snapshot file's path.
    """
    projected, last_event = load_with_last_event(projection, journal)
    return write_projected(projection, journal, projected, last_event)


def write_projected(projection, journal, projected, last_event) -> Path:
    """
    Write a snapshot of ``projected`` beside the journal's segments.

    :param last_event: the fingerprint of the event at the projected
        position, or ``None`` at position 0.
    """
    return write_snapshot(
        journal.directory,
        projection.name,
        projected.position,
        {
            "last_event": last_event,
            "state": projection.to_json(projected.state),
        },
    )


def load_with_last_event(projection, journal) -> tuple[Projected, dict]:
    """
    Load as :func:`load` does, and also return the fingerprint of the
    last event folded (``None`` when the journal is empty).
    """
    start, last_event, events = _start(projection, journal)
    tracked = _LastEvent(events)
    projected = fold(projection, tracked, start)
    if tracked.event is not None:
        last_event = fingerprint(tracked.event)
    log.info(
        "Loaded projection {name} at position {position} (snapshot at "
        "{snapshot}, {replayed} events replayed)",
        name=projection.name,
        position=projected.position,
        snapshot=start.position,
        replayed=projected.position - start.position,
    )
    return projected, last_event


def fingerprint(event: Event) -> dict:
    """Return what identifies ``event`` in a snapshot, as JSON."""
    return {
        "type": event.type_name,
        "aggregate_id": event.aggregate_id,
        "time": format_time(event.time),
    }


class _LastEvent:
    """Pass ``(seq, event)`` pairs through, remembering the last event."""

    def __init__(self, events):
        self._events = events
        self.event = None

    def __iter__(self):
        for seq, event in self._events:
            self.event = event
            yield seq, event


def _start(projection, journal):
    """
    Return where to start: the restored snapshot (or the initial state
    at position 0), the fingerprint of the event at that position, and
    the journal events to fold after it.
    """
    initial = Projected(projection.initial(), 0)
    snapshot = read_snapshot(journal.directory, projection.name)
    if snapshot is None or snapshot.seq == 0:
        return initial, None, journal.read()
    try:
        start = _restore(projection, snapshot)
        tail = _tail_after(journal, snapshot)
    except SnapshotFormatError as error:
        log.warn(
            "Ignored snapshot {path}: {error}; replaying the whole journal",
            path=str(snapshot.path),
            error=str(error),
        )
        return initial, None, journal.read()
    return start, snapshot.state["last_event"], tail


def _restore(projection, snapshot) -> Projected:
    if not isinstance(snapshot.state, dict) or "state" not in snapshot.state:
        raise SnapshotFormatError("snapshot has no 'state' field")
    state = projection.from_json(snapshot.state["state"])
    return Projected(state, snapshot.seq)


def _tail_after(journal, snapshot) -> Iterator:
    """
    Check that the journal's event at the snapshot's position is the one
    the snapshot recorded, and return the events after it.

    :raises SnapshotFormatError: the journal ends before the snapshot's
        position, or has another event there.
    """
    events = iter(journal.read(after=snapshot.seq - 1))
    first = next(events, None)
    if first is None or first[0] != snapshot.seq:
        raise SnapshotFormatError(
            f"snapshot is at position {snapshot.seq}, past the journal's "
            f"last event {journal.last_seq}"
        )
    if snapshot.state.get("last_event") != fingerprint(first[1]):
        raise SnapshotFormatError(
            f"the journal's event {snapshot.seq} is not the one the "
            "snapshot was taken after (the journal was cut or replaced)"
        )
    return events
