"""
Tests for damaged journals: what opening, reading, verify() and repair()
do with a torn tail, a flipped byte, a missing line, a duplicate seq and
damage in an older segment.
"""

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock
from twisted.logger import capturedLogs

from nano.events import (
    Event,
    EventRegistry,
    JournalCorruptError,
    UnknownEventType,
    read_lines,
    repair,
    utc_time,
    verify,
)
from nano.events._journal import open_journal

registry = EventRegistry()


@registry.event("NoteTaken")
class NoteTaken(Event):
    text: str


class InlineThread:
    """Runs the writer's work at once, on the calling thread."""

    def run(self, function, *args):
        return maybeDeferred(function, *args)

    def stop(self):
        pass


def open_sync(directory, segment_bytes=64 * 2**20):
    clock = Clock()
    journal = open_journal(
        directory, registry, clock, InlineThread(), segment_bytes
    )
    return journal, clock


def write_notes(directory, count, segment_bytes=64 * 2**20):
    """Write ``count`` events, one batch each, and close the journal."""
    journal, clock = open_sync(directory, segment_bytes)
    for i in range(count):
        journal.append(note(i))
        clock.advance(0)
    journal.close()
    return sorted(Path(directory).glob("journal-*.jsonl"))


def note(i):
    return NoteTaken(aggregate_id="notes", time=utc_time(1e9), text=f"n{i}")


def reopen_seqs(directory):
    """Open the journal, return the seqs it reads, and close it."""
    journal, _ = open_sync(directory)
    try:
        return journal.last_seq, [seq for seq, _ in journal.read()]
    finally:
        journal.close()


def lines_of(path):
    return path.read_bytes().splitlines(keepends=True)


def flip_byte(line: bytes, index: int) -> bytes:
    return line[:index] + bytes([line[index] ^ 0x01]) + line[index + 1 :]


@pytest.fixture
def journal_dir(tmp_path):
    return tmp_path / "journal"


@pytest.mark.parametrize(
    "tail",
    [
        b'{"seq":6,"event":{"type":"NoteTa',
        b"\0" * 4096,
        b'{"seq":6,"event":{"type"\n',
        b'{"seq":6,"event":{"type"\n\0\0\0\0',
    ],
    ids=["no-newline", "nul-run", "garbled-line", "garbled-then-nul"],
)
def test_torn_tail_cut_aside(journal_dir, tail):
    """A torn tail is cut into a side file with a warning; 1-5 stay."""
    (segment,) = write_notes(journal_dir, 5)
    healthy_size = segment.stat().st_size
    with segment.open("ab") as file:
        file.write(tail)

    with capturedLogs() as events:
        last_seq, seqs = reopen_seqs(journal_dir)

    assert last_seq == 5
    assert seqs == [1, 2, 3, 4, 5]
    assert segment.stat().st_size == healthy_size
    (side,) = journal_dir.glob("journal-*.torn-*")
    assert side.read_bytes() == tail
    warnings = [e for e in events if "torn" in e["log_format"]]
    assert len(warnings) == 1
    assert warnings[0]["line"] == 6
    assert verify(journal_dir, registry) == []


def test_torn_tail_then_append(journal_dir):
    """After a cut, appends continue with the next seq."""
    (segment,) = write_notes(journal_dir, 2)
    with segment.open("ab") as file:
        file.write(b'{"seq":3,"eve')
    journal, clock = open_sync(journal_dir)
    result = journal.append(note(3))
    clock.advance(0)
    assert result.result == 3
    journal.close()
    assert [line.seq for line in read_lines(journal_dir)] == [1, 2, 3]


def test_flipped_byte_middle_rejected(journal_dir):
    """A flipped byte in line 3 of 5 stops opening, naming the fix."""
    (segment,) = write_notes(journal_dir, 5)
    lines = lines_of(segment)
    lines[2] = flip_byte(lines[2], lines[2].index(b"n2"))
    segment.write_bytes(b"".join(lines))

    with pytest.raises(JournalCorruptError) as caught:
        reopen_seqs(journal_dir)

    error = caught.value
    assert error.path == segment
    assert error.line == 3
    assert "checksum mismatch" in error.message
    assert f"{segment}, line 3" in str(error)
    assert f"run: nano-journal repair {journal_dir}" in str(error)


def test_flipped_byte_last_line_rejected(journal_dir):
    """A complete last line that parses but fails its CRC is not torn."""
    (segment,) = write_notes(journal_dir, 3)
    lines = lines_of(segment)
    lines[2] = flip_byte(lines[2], lines[2].index(b"n2"))
    segment.write_bytes(b"".join(lines))

    with pytest.raises(JournalCorruptError) as caught:
        reopen_seqs(journal_dir)
    assert caught.value.line == 3
    assert "checksum mismatch" in caught.value.message
    assert list(journal_dir.glob("*.torn-*")) == []


def test_garbled_line_middle_rejected(journal_dir):
    """Non-JSON bytes followed by intact lines are not a torn tail."""
    (segment,) = write_notes(journal_dir, 4)
    lines = lines_of(segment)
    lines[1] = b"\0" * 40 + b"\n"
    segment.write_bytes(b"".join(lines))

    with pytest.raises(JournalCorruptError) as caught:
        reopen_seqs(journal_dir)
    assert caught.value.line == 2
    assert "followed by intact lines" in caught.value.message


def test_missing_line_rejected(journal_dir):
    """A deleted line is a sequence gap at the line after it."""
    (segment,) = write_notes(journal_dir, 5)
    lines = lines_of(segment)
    del lines[2]
    segment.write_bytes(b"".join(lines))

    with pytest.raises(JournalCorruptError) as caught:
        reopen_seqs(journal_dir)
    assert caught.value.line == 3
    assert "sequence gap: expected seq 3, found 4" in caught.value.message


def test_missing_line_found_by_read_after(journal_dir):
    """read(after) finds its start by position, so a gap before it shows."""
    segment, *_ = write_notes(journal_dir, 12, segment_bytes=900)
    assert len(lines_of(segment)) == 5
    lines = lines_of(segment)
    del lines[1]
    segment.write_bytes(b"".join(lines))
    journal, _ = open_sync(journal_dir)
    try:
        with pytest.raises(JournalCorruptError) as caught:
            list(journal.read(after=3))
    finally:
        journal.close()
    assert caught.value.line == 4
    assert "sequence gap: expected seq 4, found 5" in caught.value.message


def test_duplicate_seq_rejected(journal_dir):
    """A line repeated (same seq) is rejected at the copy."""
    (segment,) = write_notes(journal_dir, 5)
    lines = lines_of(segment)
    lines.insert(3, lines[2])
    segment.write_bytes(b"".join(lines))

    with pytest.raises(JournalCorruptError) as caught:
        reopen_seqs(journal_dir)
    assert caught.value.line == 4
    assert "duplicate or out-of-order seq 3" in caught.value.message


def test_older_segment_damage_found_on_read(journal_dir):
    """
    Opening reads only the last segment; damage in an older one stops
    read() and shows in verify().
    """
    segments = write_notes(journal_dir, 6, segment_bytes=400)
    assert len(segments) == 3
    lines = lines_of(segments[0])
    lines[1] = flip_byte(lines[1], lines[1].index(b"n1"))
    segments[0].write_bytes(b"".join(lines))

    journal, _ = open_sync(journal_dir)
    try:
        assert journal.last_seq == 6
        assert [seq for seq, _ in journal.read(after=2)] == [3, 4, 5, 6]
        with pytest.raises(JournalCorruptError) as caught:
            list(journal.read())
    finally:
        journal.close()
    assert caught.value.path == segments[0]
    assert caught.value.line == 2
    problems = verify(journal_dir, registry)
    assert [(p.path, p.line) for p in problems] == [(segments[0], 2)]


def test_torn_line_in_older_segment_rejected(journal_dir):
    """A torn-looking line is only cut at the end of the last segment."""
    segments = write_notes(journal_dir, 4, segment_bytes=400)
    with segments[0].open("ab") as file:
        file.write(b'{"seq":3,"ev')
    with pytest.raises(JournalCorruptError) as caught:
        list(read_lines(journal_dir))
    assert caught.value.path == segments[0]
    assert caught.value.line == 3


def test_missing_first_segment_rejected(journal_dir):
    """Opening fails when the oldest segments are gone."""
    segments = write_notes(journal_dir, 6, segment_bytes=400)
    segments[0].unlink()
    with pytest.raises(JournalCorruptError) as caught:
        reopen_seqs(journal_dir)
    assert "segments before it are missing" in caught.value.message


def test_missing_middle_segment_found(journal_dir):
    """A missing segment between two others is a gap for verify()."""
    segments = write_notes(journal_dir, 6, segment_bytes=400)
    segments[1].unlink()
    problems = verify(journal_dir, registry)
    assert len(problems) == 1
    assert problems[0].path == segments[2]
    assert "previous segment ends at seq 2" in problems[0].message


def test_verify_lists_every_problem(journal_dir):
    """verify() reports each damaged line, not only the first."""
    (segment,) = write_notes(journal_dir, 8)
    lines = lines_of(segment)
    lines[1] = flip_byte(lines[1], lines[1].index(b"n1"))
    del lines[5]
    segment.write_bytes(b"".join(lines))

    problems = verify(journal_dir, registry)
    assert [p.line for p in problems] == [2, 6]
    assert "checksum mismatch" in problems[0].message
    assert "sequence gap: expected seq 6, found 7" in problems[1].message


def test_verify_stray_old_line_once(journal_dir):
    """A copy of an old line in the middle is one problem, not two."""
    (segment,) = write_notes(journal_dir, 5)
    lines = lines_of(segment)
    lines.insert(3, lines[1])
    segment.write_bytes(b"".join(lines))

    problems = verify(journal_dir, registry)
    assert [p.line for p in problems] == [4]
    assert "duplicate or out-of-order seq 2" in problems[0].message


def test_verify_reports_unknown_types(journal_dir):
    """Events that the registry cannot decode are problems too."""
    write_notes(journal_dir, 2)
    assert len(verify(journal_dir, EventRegistry())) == 2
    problem = verify(journal_dir, EventRegistry())[0]
    assert "unknown event type 'NoteTaken'" in problem.message


def test_read_names_undecodable_line(journal_dir):
    """read() raises the registry's error with the file and line."""
    (segment,) = write_notes(journal_dir, 3)
    other = EventRegistry()
    journal = open_journal(journal_dir, other, Clock(), InlineThread(), 2**20)
    try:
        with pytest.raises(UnknownEventType) as caught:
            list(journal.read(after=1))
    finally:
        journal.close()
    assert caught.value.position == f"{segment}:2"
    assert "unknown event type 'NoteTaken'" in str(caught.value)


def test_read_lines_stops_at_damage(journal_dir):
    """read_lines() yields the intact lines, then raises."""
    (segment,) = write_notes(journal_dir, 4)
    lines = lines_of(segment)
    lines[2] = flip_byte(lines[2], lines[2].index(b"n2"))
    segment.write_bytes(b"".join(lines))
    seen = []
    with pytest.raises(JournalCorruptError):
        for line in read_lines(journal_dir):
            seen.append(line.seq)
    assert seen == [1, 2]


def test_repair_cuts_from_damage(journal_dir, tmp_path):
    """repair() backs up, then cuts from the first bad line on."""
    segments = write_notes(journal_dir, 6, segment_bytes=400)
    original = {p.name: p.read_bytes() for p in segments}
    lines = lines_of(segments[1])
    lines[1] = flip_byte(lines[1], lines[1].index(b"n3"))
    segments[1].write_bytes(b"".join(lines))
    removed = len(lines[1]) + segments[2].stat().st_size

    result = repair(journal_dir, tmp_path / "backup")

    assert result.path == segments[1]
    assert result.line == 2
    assert result.removed_bytes == removed
    assert result.backup == tmp_path / "backup"
    backup_first = (result.backup / segments[0].name).read_bytes()
    assert backup_first == original[segments[0].name]
    assert not segments[2].exists()
    assert reopen_seqs(journal_dir) == (3, [1, 2, 3])
    assert verify(journal_dir, registry) == []


def test_repair_removes_emptied_segment(journal_dir, tmp_path):
    """A segment cut at its first line is removed, not left empty."""
    segments = write_notes(journal_dir, 6, segment_bytes=400)
    lines = lines_of(segments[1])
    lines[0] = flip_byte(lines[0], lines[0].index(b"n2"))
    segments[1].write_bytes(b"".join(lines))

    result = repair(journal_dir, tmp_path / "backup")
    assert result.line == 1
    assert [p.name for p in journal_dir.glob("journal-*")] == [
        segments[0].name
    ]
    assert reopen_seqs(journal_dir) == (2, [1, 2])


def test_repair_healthy_returns_none(journal_dir, tmp_path):
    """repair() of a healthy journal changes nothing and copies nothing."""
    write_notes(journal_dir, 3)
    assert repair(journal_dir, tmp_path / "backup") is None
    assert not (tmp_path / "backup").exists()


def test_repair_default_backup_beside(journal_dir):
    """Without a backup directory, the copy goes beside the journal."""
    (segment,) = write_notes(journal_dir, 3)
    with segment.open("ab") as file:
        file.write(b"\0\0\0")
    result = repair(journal_dir)
    assert result.backup.parent == journal_dir.parent
    assert result.backup.name.startswith("journal.backup-")
    assert result.removed_bytes == 3
    shutil.rmtree(result.backup)


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10**6), nuls=st.integers(0, 64))
def test_any_cut_recovers_whole_lines(tmp_path_factory, cut, nuls):
    """
    Cutting the file at any byte (a write interrupted anywhere), then
    adding NULs (a power cut), recovers exactly the whole lines before it.
    """
    directory = tmp_path_factory.mktemp("journal")
    (segment,) = write_notes(directory, 6)
    data = segment.read_bytes()
    cut %= len(data) + 1
    segment.write_bytes(data[:cut] + b"\0" * nuls)
    whole_lines = data[:cut].count(b"\n")

    with capturedLogs():
        last_seq, seqs = reopen_seqs(directory)

    assert last_seq == whole_lines
    assert seqs == list(range(1, whole_lines + 1))
    kept = b"".join(data.splitlines(keepends=True)[:whole_lines])
    assert segment.read_bytes() == kept
