"""
Replay: reading decoded events from the journal, fast.

The intact case runs in one tight loop per segment. At the first line
that fails a check, :func:`walk` re-reads from the start position to
name the damage exactly as recovery and ``verify`` would.
"""

from collections.abc import Iterator
from pathlib import Path

import orjson

from ._errors import JournalCorruptError
from ._event import Event
from ._files import read_regular_file
from ._lines import (
    LineDamage,
    check_line,
    list_segments,
    parse_record,
    segment_name,
)
from ._registry import EventDecodeError, EventRegistry
from ._scan import walk


class _Damaged(Exception):
    """A check failed; the caller turns it into a precise error."""


def read_events(
    directory: Path, registry: EventRegistry, after: int, last_seq: int
) -> Iterator[tuple[int, Event]]:
    """
    Yield ``(seq, event)`` for seq ``after + 1`` to ``last_seq``.

    The start is found by position (line ``n`` of a segment starting at
    seq ``s`` contains seq ``s + n - 1``), so the lines before it are not
    read, but a line missing or added before it shows as a wrong seq.

    :raises JournalCorruptError: at a damaged line, or when the files
        end before ``last_seq``.
    :raises EventDecodeError: at an event the registry cannot decode.
    """
    if last_seq <= after:
        return
    segments = list_segments(directory)
    start = _segment_index(segments, after + 1)
    try:
        yield from _read_segments(segments[start:], registry, after, last_seq)
    except _Damaged:
        raise _locate_damage(
            directory, segments[start:], after, last_seq
        ) from None


def _read_segments(segments, registry, after, last_seq):
    decode = registry.decode
    expected = after + 1
    for index, (first, path) in enumerate(segments):
        if first > expected or (index > 0 and first != expected):
            raise _Damaged()
        pieces = read_regular_file(path).split(b"\n")
        del pieces[-1]  # b"" after the last newline, or a partial line
        for number in range(expected - first, len(pieces)):
            line = pieces[number]
            try:
                if check_line(line) != expected:
                    raise _Damaged()
                record = orjson.loads(line)["event"]
            except (LineDamage, ValueError, KeyError, TypeError):
                raise _Damaged() from None
            try:
                event = decode(record)
            except EventDecodeError as error:
                # Positions are formatted only for errors: it is cheaper.
                position = f"{path}:{number + 1}"
                raise type(error)(position, error.message) from None
            yield expected, event
            if expected == last_seq:
                return
            expected += 1
    raise _Damaged()


def _locate_damage(
    directory: Path, segments, after: int, last_seq: int
) -> Exception:
    """Return the error for the first damaged line after ``after``."""
    expected = segments[0][0] if segments else 1
    for entry in walk(segments, expected, after):
        if entry.damage is None:
            try:
                parse_record(entry.data)
            except LineDamage as damage:
                entry = entry._replace(damage=damage)
        if entry.damage is not None:
            return JournalCorruptError(
                entry.path, entry.line, entry.damage.message
            )
    first = Path(directory) / segment_name(1)
    path = segments[-1][1] if segments else first
    return JournalCorruptError(
        path,
        0,
        f"the journal ends before seq {last_seq}, which was acknowledged: "
        "its files were changed or removed while it was open",
    )


def _segment_index(segments, seq: int) -> int:
    """Return the index of the segment that contains ``seq``."""
    index = 0
    for candidate, (first, _) in enumerate(segments):
        if first > seq:
            break
        index = candidate
    return index
