"""Reading a journal directory for the commands, with clear errors."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock

from nano.events import (
    Event,
    EventRegistry,
    JournalCorruptError,
    JournalLine,
    read_lines,
)
from nano.events._journal import open_journal

from ._errors import UsageError


def journal_directory(text: str) -> Path:
    """
    Return the journal directory named on the command line.

    :raises UsageError: it does not exist or is not a directory.
    """
    directory = Path(text)
    if not directory.exists():
        raise UsageError(
            f"journal directory {text} not found: give the directory that "
            "contains the journal-*.jsonl segments"
        )
    if not directory.is_dir():
        raise UsageError(
            f"{text} is not a directory: give the directory that contains "
            "the journal-*.jsonl segments, not a file in it"
        )
    return directory


def position(line: JournalLine) -> str:
    """Return ``file:line`` for messages."""
    return f"{line.path}:{line.line}"


def decoded_events(
    directory: Path, registry: EventRegistry
) -> Iterator[tuple[int, Event]]:
    """
    Yield ``(seq, event)`` for every line, decoded and upcast.

    :raises EventDecodeError: an event cannot be decoded.
    :raises JournalCorruptError: a line is damaged.
    """
    for line in read_lines(directory):
        yield line.seq, registry.decode(line.record, position(line))


def first_damage(directory: Path) -> JournalCorruptError | None:
    """Return the first damaged line's error, or ``None`` if none is."""
    try:
        for _ in read_lines(directory):
            pass
    except JournalCorruptError as error:
        return error
    return None


def last_seq(directory: Path) -> int:
    """Return the last sequence number in an intact journal, 0 if none."""
    seq = 0
    for line in read_lines(directory):
        seq = line.seq
    return seq


class _InlineThread:
    """Run the journal's file work at once, in the calling thread."""

    def run(self, function, *args):
        return maybeDeferred(function, *args)

    def stop(self):
        pass


@contextmanager
def opened_journal(directory: Path, registry: EventRegistry):
    """
    Open the journal (taking its lock, cutting a torn tail) for a command
    that runs without a reactor, and close it afterwards.

    NOTE: this uses the journal's private opener with an inline writer,
    because Journal.open needs a running reactor to close its writer
    thread.
    """
    clock = Clock()
    journal = open_journal(
        directory, registry, clock, _InlineThread(), 64 * 2**20
    )
    try:
        yield journal
    finally:
        journal.close()
        clock.advance(0)
