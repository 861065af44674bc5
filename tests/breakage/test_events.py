"""
Defects found in the event store's library functions.

Each test shows one defect and is marked ``xfail(strict=True)``, so the
suite stays green until the defect is fixed, and then the mark must go.
"""

import os
from pathlib import Path

import pytest
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock

from nano.events import JournalLockedError, repair, utc_time
from nano.events import _tools as tools
from nano.events._journal import open_journal
from nano.events._lines import encode_line, segment_name
from nano.events.core import CORE_EVENTS, ComputePoolCreated

POOL = {
    "type": "ComputePoolCreated",
    "version": 1,
    "time": "2026-12-04T16:00:00.000000Z",
    "aggregate_id": "pool-1",
    "task_id": None,
    "data": {
        "storage": None,
        "network": None,
        "failover": False,
        "enabled": True,
    },
}


def damaged_journal(directory: Path) -> None:
    """Write two segments of two lines and damage the second segment."""
    directory.mkdir()
    for first in (1, 3):
        lines = [encode_line(seq, POOL) for seq in (first, first + 1)]
        (directory / segment_name(first)).write_bytes(b"".join(lines))
    damaged = directory / segment_name(3)
    damaged.write_bytes(damaged.read_bytes().replace(b"pool-1", b"pool-2", 1))


def record_syncs(monkeypatch) -> list[str]:
    """
    Record the path of every fsync and fdatasync, and ``CUT`` when
    repair starts cutting the journal, in the order they happen.
    """
    calls = []

    def recording(original):
        def sync(fd):
            calls.append(os.readlink(f"/proc/self/fd/{fd}"))
            return original(fd)

        return sync

    def cut(directory, damaged):
        calls.append("CUT")
        return original_cut(directory, damaged)

    original_cut = tools._cut_from
    monkeypatch.setattr(os, "fsync", recording(os.fsync))
    monkeypatch.setattr(os, "fdatasync", recording(os.fdatasync))
    monkeypatch.setattr(tools, "_cut_from", cut)
    return calls


def test_repair_syncs_backup_before_cut(tmp_path, monkeypatch):
    """Every backup file and the backup directory are synced before the cut."""
    journal = tmp_path / "journal"
    backup = tmp_path / "backup"
    damaged_journal(journal)
    calls = record_syncs(monkeypatch)

    result = repair(journal, backup)

    assert result is not None
    assert "CUT" in calls
    synced_before_cut = calls[: calls.index("CUT")]
    for path in sorted(backup.iterdir()):
        if path.name.startswith("journal-"):
            assert str(path) in synced_before_cut
    assert str(backup) in synced_before_cut


class InlineThread:
    """Run the journal's writes at once, in the calling thread."""

    def run(self, function, *args):
        return maybeDeferred(function, *args)

    def stop(self):
        pass


def test_read_negative_position_not_damage(tmp_path):
    """A negative position is an invalid argument, not journal damage."""
    clock = Clock()
    journal = open_journal(
        tmp_path / "journal", CORE_EVENTS, clock, InlineThread(), 2**20
    )
    event = ComputePoolCreated(
        time=utc_time(1_796_400_000), aggregate_id="pool-1", task_id=None
    )
    journal.append(event)
    journal.append(event)
    clock.advance(0)

    try:
        seqs = [seq for seq, _ in journal.read(-1)]
    except ValueError:
        return
    finally:
        journal.close()
        clock.advance(0)

    assert seqs == [1, 2]


def test_open_syncs_created_directories(tmp_path, monkeypatch):
    """Directories that open creates are synced into their parents."""
    calls = record_syncs(monkeypatch)
    clock = Clock()
    journal = open_journal(
        tmp_path / "data" / "journal",
        CORE_EVENTS,
        clock,
        InlineThread(),
        2**20,
    )
    event = ComputePoolCreated(
        time=utc_time(1_796_400_000), aggregate_id="pool-1", task_id=None
    )
    journal.append(event).addCallback(calls.append)
    clock.advance(0)
    journal.close()
    clock.advance(0)

    assert 1 in calls
    synced_before_ack = calls[: calls.index(1)]
    assert str(tmp_path) in synced_before_ack
    assert str(tmp_path / "data") in synced_before_ack


def test_deleted_lock_file_still_excludes(tmp_path):
    """A second open fails while the first holds the journal."""
    directory = tmp_path / "journal"
    clock = Clock()
    first = open_journal(directory, CORE_EVENTS, clock, InlineThread(), 2**20)
    (directory / "journal.lock").unlink()

    try:
        with pytest.raises(JournalLockedError):
            second = open_journal(
                directory, CORE_EVENTS, clock, InlineThread(), 2**20
            )
            second.close()
    finally:
        first.close()
        clock.advance(0)
