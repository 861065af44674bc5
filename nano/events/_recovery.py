"""
Recovery on open: cut a torn tail, reject damage anywhere else.

The rule: damage is a *torn tail*, cut off with a warning, only when it
is in the last segment and reaches the end of that file with no intact
line after it. Every damaged line must also look like an interrupted
write: a final line without its newline, or bytes that are not JSON,
such as the NUL runs a power cut can leave. A complete line that parses
as JSON but fails its checksum, a sequence gap or duplicate, or damage
followed by an intact line is corruption, and opening fails with
:class:`JournalCorruptError`.

Only the last segment is read on open. Older segments were complete and
synced before the next one was created; damage in them is found when they
are read (:meth:`Journal.read`, :func:`verify`).
"""

from pathlib import Path

from twisted.logger import Logger

from ._errors import JournalCorruptError
from ._files import (
    fsync_directory,
    read_regular_file,
    truncate_durably,
    utc_stamp,
    write_durably,
)
from ._lines import LineDamage, check_line, list_segments
from ._scan import Entry, walk

log = Logger()


def recover(directory: Path) -> tuple[int, Path | None]:
    """
    Check the journal's last segment and cut a torn tail off it.

    :return: the last sequence number on disk and the last segment's
        path (``None`` when the journal is empty).
    :raises JournalCorruptError: for damage that is not a torn tail.
    """
    segments = list_segments(directory)
    if not segments:
        return 0, None
    first, path = segments[-1]
    if segments[0][0] != 1:
        raise JournalCorruptError(
            segments[0][1],
            1,
            f"the oldest segment starts at seq {segments[0][0]}: "
            "the segments before it are missing",
        )
    last_seq, torn = _scan_last(path, first)
    if torn is not None:
        _cut_torn_tail(torn)
    return last_seq, path


def _scan_last(path: Path, first: int) -> tuple[int, Entry | None]:
    """Return the last intact seq and the first torn line, if any."""
    last_seq = _last_seq_if_intact(path, first)
    if last_seq is not None:
        return last_seq, None
    last_seq = first - 1
    torn = None
    for entry in walk([(first, path)], expected=first):
        damage = entry.damage
        if damage is None and torn is None:
            last_seq = entry.seq
            continue
        if damage is None:
            _reject(torn, "damaged line followed by intact lines: ")
        if not damage.torn:
            _reject(entry, "")
        torn = torn or entry
    return last_seq, torn


def _last_seq_if_intact(path: Path, first: int) -> int | None:
    """
    Check every line quickly; return the last seq, or ``None`` at any
    damage, which :func:`walk` then describes.
    """
    pieces = read_regular_file(path).split(b"\n")
    if pieces.pop():
        return None
    expected = first
    try:
        for line in pieces:
            if check_line(line) != expected:
                return None
            expected += 1
    except LineDamage:
        return None
    return expected - 1


def _reject(entry: Entry, prefix: str):
    raise JournalCorruptError(
        entry.path, entry.line, prefix + entry.damage.message
    )


def _cut_torn_tail(torn: Entry) -> None:
    """Move the bytes from ``torn`` to the end into a side file."""
    path = torn.path
    tail = path.read_bytes()[torn.offset :]
    side = path.with_name(f"{path.name}.torn-{utc_stamp()}")
    write_durably(side, tail)
    truncate_durably(path, torn.offset)
    fsync_directory(path.parent)
    log.warn(
        "Cut a torn last write off journal segment {path} at line {line} "
        "({size} bytes: {reason}); the bytes are kept in {side}",
        path=str(path),
        line=torn.line,
        size=len(tail),
        reason=torn.damage.message,
        side=str(side),
    )
