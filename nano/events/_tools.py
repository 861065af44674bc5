"""
Synchronous journal inspection and repair for operator tools.

These run without a reactor. :func:`read_lines` and :func:`verify` only
read; :func:`repair` takes the journal's lock, so it cannot cut a journal
that a running process has open.
"""

from collections.abc import Iterator
from pathlib import Path

import attrs

from ._errors import JournalCorruptError
from ._files import (
    JournalLock,
    copy_directory_durably,
    fsync_directory,
    truncate_durably,
    utc_stamp,
)
from ._lines import LineDamage, list_segments, parse_record
from ._registry import EventDecodeError, EventRegistry
from ._scan import Entry, walk


@attrs.frozen
class JournalLine:
    """
    One intact journal line: where it is, its sequence number and its
    event record (not yet decoded or upcast).
    """

    path: Path
    line: int
    seq: int
    record: dict


@attrs.frozen
class Problem:
    """One damaged or undecodable journal line, for :func:`verify`."""

    path: Path
    line: int
    message: str


@attrs.frozen
class RepairResult:
    """
    The cut that :func:`repair` made: everything from ``line`` of
    ``path`` on, ``removed_bytes`` in all, with a copy of the journal in
    ``backup``.
    """

    path: Path
    line: int
    removed_bytes: int
    backup: Path


def read_lines(directory) -> Iterator[JournalLine]:
    """
    Yield every journal line in sequence order.

    :raises JournalCorruptError: at the first damaged line, a torn last
        line included (opening the journal cuts that one off).
    """
    for entry, record in _checked_entries(Path(directory)):
        if entry.damage is not None:
            raise JournalCorruptError(
                entry.path, entry.line, entry.damage.message
            )
        yield JournalLine(entry.path, entry.line, entry.seq, record)


def verify(directory, registry: EventRegistry) -> list[Problem]:
    """
    Check every line: checksum, JSON, sequence gaps and duplicates, and
    that the registry can decode (and upcast) the event.

    :return: every problem found, in file order; empty when healthy.
    """
    problems = []
    for entry, record in _checked_entries(Path(directory)):
        if entry.damage is not None:
            problems.append(
                Problem(entry.path, entry.line, entry.damage.message)
            )
            continue
        position = f"{entry.path}:{entry.line}"
        try:
            registry.decode(record, position)
        except EventDecodeError as error:
            problems.append(Problem(entry.path, entry.line, error.message))
    return problems


def repair(directory, backup_directory=None) -> RepairResult | None:
    """
    Cut the journal from its first damaged line on, later segments too,
    after copying the whole journal directory to a backup.

    Undecodable events are not damage here: a newer Nano may read them.

    :param backup_directory: where the copy goes; by default a sibling
        ``<directory>.backup-<UTC time>``. It must not exist yet.
    :return: what was cut, or ``None`` when nothing was damaged.
    :raises JournalLockedError: a process has the journal open.
    """
    directory = Path(directory)
    lock = JournalLock(directory)
    try:
        damaged = _first_damage(directory)
        if damaged is None:
            return None
        if backup_directory is None:
            backup_directory = directory.with_name(
                f"{directory.name}.backup-{utc_stamp()}"
            )
        backup = Path(backup_directory)
        copy_directory_durably(directory, backup)
        removed = _cut_from(directory, damaged)
        return RepairResult(damaged.path, damaged.line, removed, backup)
    finally:
        lock.release()


def _checked_entries(directory: Path) -> Iterator[tuple[Entry, dict]]:
    """
    Yield every line with its record (``None`` when damaged), with
    unparseable JSON marked as damage too.
    """
    for entry in walk(list_segments(directory), expected=1):
        record = None
        if entry.damage is None:
            try:
                record = parse_record(entry.data)
            except LineDamage as damage:
                entry = entry._replace(damage=damage)
        yield entry, record


def _first_damage(directory: Path) -> Entry | None:
    for entry, _ in _checked_entries(directory):
        if entry.damage is not None:
            return entry
    return None


def _cut_from(directory: Path, damaged: Entry) -> int:
    """
    Remove ``damaged`` and everything after it; return the bytes removed.

    A segment cut to nothing is removed, because its name would claim a
    first sequence number that no line carries.
    """
    later = [
        path
        for _, path in list_segments(directory)
        if path.name > damaged.path.name
    ]
    removed = damaged.path.stat().st_size - damaged.offset
    if damaged.offset == 0:
        damaged.path.unlink()
    else:
        truncate_durably(damaged.path, damaged.offset)
    for path in later:
        removed += path.stat().st_size
        path.unlink()
    fsync_directory(directory)
    return removed
