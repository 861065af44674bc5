"""
Tests for the journal's file handling: the lock, the directories that
open creates, special files named like journal files, and the durable
copy that repair makes.
"""

import errno
import fcntl
import os

import pytest
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock

from nano.events import (
    Event,
    EventRegistry,
    JournalLockedError,
    read_snapshot,
    utc_time,
    write_snapshot,
)
from nano.events._files import SpecialFileError, copy_directory_durably
from nano.events._journal import open_journal
from nano.events._lines import segment_name

registry = EventRegistry()


@registry.event("NoteTaken")
class NoteTaken(Event):
    text: str


class InlineThread:
    """Run the writer's work at once, on the calling thread."""

    def run(self, function, *args):
        return maybeDeferred(function, *args)

    def stop(self):
        pass


def open_sync(directory):
    """Open a journal whose writes run at once; return it and its clock."""
    clock = Clock()
    journal = open_journal(directory, registry, clock, InlineThread(), 2**20)
    return journal, clock


def write_notes(directory, count):
    """Write ``count`` events and close the journal."""
    journal, clock = open_sync(directory)
    for number in range(count):
        journal.append(
            NoteTaken(
                aggregate_id="notes", time=utc_time(1e9), text=str(number)
            )
        )
        clock.advance(0)
    journal.close()


@pytest.mark.parametrize("after", [-1, 1.0, "1", True, None])
def test_read_invalid_position(tmp_path, after):
    """Journal.read rejects a position that is not an int >= 0."""
    write_notes(tmp_path, 2)
    journal, _ = open_sync(tmp_path)
    try:
        with pytest.raises(ValueError, match="invalid journal position"):
            journal.read(after)
    finally:
        journal.close()


def test_open_creates_nested_directories(tmp_path):
    """open creates every missing parent, and the journal works there."""
    directory = tmp_path / "a" / "b" / "journal"
    write_notes(directory, 1)
    journal, _ = open_sync(directory)
    try:
        assert journal.last_seq == 1
    finally:
        journal.close()


def test_old_lock_file_holder_excluded(tmp_path):
    """open fails while an older Nano holds only journal.lock."""
    write_notes(tmp_path, 1)
    fd = os.open(tmp_path / "journal.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with pytest.raises(JournalLockedError, match="already open"):
            open_sync(tmp_path)
    finally:
        os.close(fd)


def test_lock_released_after_failed_open(tmp_path):
    """A failed open releases both locks, so a later open succeeds."""
    write_notes(tmp_path, 1)
    os.mkfifo(tmp_path / segment_name(2))
    with pytest.raises(SpecialFileError):
        open_sync(tmp_path)
    os.unlink(tmp_path / segment_name(2))

    journal, _ = open_sync(tmp_path)
    journal.close()


def test_open_fifo_segment_names_it(tmp_path):
    """A FIFO as the last segment fails open at once, naming the FIFO."""
    write_notes(tmp_path, 1)
    fifo = tmp_path / segment_name(2)
    os.mkfifo(fifo)

    with pytest.raises(SpecialFileError) as raised:
        open_sync(tmp_path)

    assert str(raised.value).startswith(f"{fifo}: is a FIFO")
    assert "move it out of the journal directory" in str(raised.value)


def test_snapshot_fifo_skipped(tmp_path):
    """read_snapshot skips a FIFO named like a snapshot."""
    older = write_snapshot(tmp_path, "core", 1, {"at": 1})
    os.mkfifo(tmp_path / "snapshot-core-00000000000000000002.json")

    snapshot = read_snapshot(tmp_path, "core")

    assert snapshot is not None
    assert snapshot.path == older


def test_snapshot_failure_leaves_no_temporary(tmp_path, monkeypatch):
    """A failed sync removes the temporary file and names the snapshot."""

    def failing_fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    path = tmp_path / "snapshot-core-00000000000000000001.json"

    with pytest.raises(OSError) as raised:
        write_snapshot(tmp_path, "core", 1, {"at": 1})

    assert raised.value.filename == str(path)
    assert list(tmp_path.iterdir()) == []


def test_copy_keeps_files_skips_special(tmp_path):
    """The durable copy keeps files and subdirectories, not FIFOs."""
    source = tmp_path / "source"
    (source / "nested").mkdir(parents=True)
    (source / "a.jsonl").write_bytes(b"a\n")
    (source / "nested" / "b").write_bytes(b"b")
    os.mkfifo(source / "fifo")
    target = tmp_path / "target"

    copy_directory_durably(source, target)

    assert (target / "a.jsonl").read_bytes() == b"a\n"
    assert (target / "nested" / "b").read_bytes() == b"b"
    assert not (target / "fifo").exists()


def test_copy_rejects_existing_target(tmp_path):
    """The copy never writes into a directory that already exists."""
    (tmp_path / "source").mkdir()
    (tmp_path / "target").mkdir()
    with pytest.raises(FileExistsError):
        copy_directory_durably(tmp_path / "source", tmp_path / "target")
