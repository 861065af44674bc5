"""The commands that fold events into state: replay and compact."""

import json
import sys
from datetime import datetime

from nano.events import format_time
from nano.projections import PROJECTIONS, compact, fold

from ._reading import decoded_events, journal_directory, opened_journal


def replay(args) -> int:
    """Print the projection's state at ``--until`` (or the end) as JSON."""
    directory = journal_directory(args.directory)
    projection = PROJECTIONS[args.projection]
    last_time = None

    def events():
        nonlocal last_time
        pairs = decoded_events(directory, projection.registry)
        for seq, event in _until(pairs, args.until):
            last_time = event.time
            yield seq, event

    projected = fold(projection, events())
    output = {
        "projection": projection.name,
        "position": projected.position,
        "time": None if last_time is None else format_time(last_time),
        "state": projection.to_json(projected.state),
    }
    print(json.dumps(output, indent=2, ensure_ascii=False))
    _note_short_journal(args.until, projected.position)
    return 0


def _until(pairs, until):
    """Yield the pairs up to event ``until`` or up to time ``until``."""
    for seq, event in pairs:
        if isinstance(until, int) and seq > until:
            return
        if isinstance(until, datetime) and event.time > until:
            return
        yield seq, event


def _note_short_journal(until, position: int) -> None:
    if isinstance(until, int) and position < until:
        print(
            f"note: the journal ends at seq {position}, before {until}; "
            f"the state shown is at seq {position}",
            file=sys.stderr,
        )


def compact_command(args) -> int:
    """Write a snapshot of the projection at the journal's last event."""
    directory = journal_directory(args.directory)
    projection = PROJECTIONS[args.projection]
    with opened_journal(directory, projection.registry) as journal:
        path = compact(projection, journal)
        seq = journal.last_seq
    print(f"wrote snapshot {path} ({projection.name} at seq {seq})")
    return 0
