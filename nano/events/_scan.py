"""
Walking journal segments line by line, with checksum and sequence checks.

Every reader (replay, recovery, verification, repair) goes through
:func:`walk`, so they agree on what counts as damage.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from ._files import read_regular_file
from ._lines import LineDamage, check_line


class Entry(NamedTuple):
    """
    One line of a segment, checked.

    :ivar offset: the byte offset of the line's start in its file.
    :ivar data: the line's bytes, without the newline.
    :ivar seq: the line's sequence number, or ``None`` when damaged.
    :ivar damage: what is wrong with the line, or ``None`` when intact.
    """

    path: Path
    line: int
    offset: int
    data: bytes
    seq: int | None
    damage: LineDamage | None


def walk(
    segments: list[tuple[int, Path]], expected: int, after: int = 0
) -> Iterator[Entry]:
    """
    Yield every line of ``segments`` in order, checked.

    A line whose checksum matches but whose sequence number is not the next
    one is damaged too (a gap or a duplicate). After a damaged line the
    count restarts from the next intact line, and after a line out of
    order it continues from the highest seq seen, so that one bad line is
    reported once.

    :param segments: ``(first seq, path)`` pairs, oldest first.
    :param expected: the sequence number the first line must carry.
    :param after: skip, unchecked, the lines that come before seq
        ``after + 1`` by position (line ``n`` of a segment that starts
        at seq ``s`` carries seq ``s + n - 1``). The first line yielded
        must then carry seq ``after + 1``, so a missing or extra line
        among the skipped ones is still reported.
    """
    for first, path in segments:
        if expected is not None and first != expected:
            yield _misnamed(path, first, expected)
        skip = max(0, after + 1 - first)
        expected = first + skip
        for entry in _segment_entries(path, skip):
            if entry.damage is not None:
                expected = None
            elif expected is not None and entry.seq != expected:
                yield entry._replace(damage=_out_of_order(entry, expected))
                # Expect the next seq after the highest one seen, so that
                # swapped lines or a stray old line are each one problem.
                expected = max(expected, entry.seq + 1)
                continue
            else:
                expected = entry.seq + 1
            yield entry


def _segment_entries(path: Path, skip: int = 0) -> Iterator[Entry]:
    pieces = read_regular_file(path).split(b"\n")
    tail = pieces.pop()
    skip = min(skip, len(pieces))
    offset = sum(map(len, pieces[:skip])) + skip
    for number in range(skip, len(pieces)):
        data = pieces[number]
        try:
            seq = check_line(data)
        except LineDamage as damage:
            yield Entry(path, number + 1, offset, data, None, damage)
        else:
            yield Entry(path, number + 1, offset, data, seq, None)
        offset += len(data) + 1
    if tail:
        damage = LineDamage("incomplete last line (no newline)", torn=True)
        yield Entry(path, len(pieces) + 1, offset, tail, None, damage)


def _out_of_order(entry: Entry, expected: int) -> LineDamage:
    if entry.seq == expected + 1:
        message = (
            f"sequence gap: expected seq {expected}, found {entry.seq} "
            f"(seq {expected} is missing)"
        )
    elif entry.seq > expected:
        message = (
            f"sequence gap: expected seq {expected}, found {entry.seq} "
            f"(seqs {expected} to {entry.seq - 1} are missing)"
        )
    else:
        message = (
            f"duplicate or out-of-order seq {entry.seq}: "
            f"expected seq {expected}"
        )
    return LineDamage(message, torn=False)


def _misnamed(path: Path, first: int, expected: int) -> Entry:
    if expected == 1:
        message = (
            f"the oldest segment starts at seq {first}: "
            "the segments before it are missing"
        )
    else:
        message = (
            f"segment name says it starts at seq {first}, but the "
            f"previous segment ends at seq {expected - 1}"
        )
    return Entry(path, 1, 0, b"", None, LineDamage(message, torn=False))
