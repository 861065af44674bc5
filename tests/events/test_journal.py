"""
Tests for the journal's appends, group commit, reads, rotation and
failures, with real files.

Most tests run the writer's work through :class:`ManualThread`, so that
each test decides when a batch finishes. The last ones use the real
writer thread under the real reactor.
"""

import errno
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import SynchronousTestCase

from nano.events import (
    Event,
    EventRegistry,
    Journal,
    JournalClosedError,
    JournalFailedError,
    JournalLockedError,
    JournalWriteError,
    RegistryError,
    read_lines,
    utc_time,
    verify,
)
from nano.events._journal import open_journal

registry = EventRegistry()


@registry.event("NoteTaken")
class NoteTaken(Event):
    text: str


class Unregistered(Event):
    pass


def note(text: str) -> NoteTaken:
    return NoteTaken(aggregate_id="notes", time=utc_time(1e9), text=text)


class ManualThread:
    """
    A stand-in for the writer thread that runs each call only when the
    test calls :meth:`finish_one`, so a test can hold a write in flight.
    """

    def __init__(self):
        self.calls = []
        self.stopped = False

    def run(self, function, *args):
        done = Deferred()
        self.calls.append((function, args, done))
        return done

    def finish_one(self):
        function, args, done = self.calls.pop(0)
        try:
            result = function(*args)
        except Exception as error:
            done.errback(error)
        else:
            done.callback(result)

    def finish_all(self):
        while self.calls:
            self.finish_one()

    def stop(self):
        self.stopped = True


class JournalTestCase(SynchronousTestCase):
    def setUp(self):
        self.directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.directory)
        self.clock = Clock()
        self.thread = ManualThread()
        self.journals = []

    def tearDown(self):
        for journal in self.journals:
            journal.close()
            self.thread.finish_all()

    def open(self, segment_bytes=64 * 2**20) -> Journal:
        journal = open_journal(
            self.directory, registry, self.clock, self.thread, segment_bytes
        )
        self.journals.append(journal)
        return journal

    def reopen(self, journal, **options) -> Journal:
        journal.close()
        self.thread.finish_all()
        self.journals.remove(journal)
        return self.open(**options)

    def append_and_write(self, journal, *texts):
        results = [journal.append(note(text)) for text in texts]
        self.clock.advance(0)
        self.thread.finish_all()
        return [self.successResultOf(result) for result in results]


class AppendTests(JournalTestCase):
    """Acknowledgement, numbering and group commit."""

    def test_fires_after_write(self):
        """An append fires with its seq only once its batch is written."""
        journal = self.open()
        result = journal.append(note("a"))
        self.clock.advance(0)
        self.assertNoResult(result)
        self.assertEqual(journal.last_seq, 0)

        self.thread.finish_one()
        self.assertEqual(self.successResultOf(result), 1)
        self.assertEqual(journal.last_seq, 1)

    def test_same_turn_shares_write(self):
        """Appends made in one reactor turn go into one write."""
        journal = self.open()
        results = [journal.append(note(str(i))) for i in range(3)]
        self.clock.advance(0)
        self.assertEqual(len(self.thread.calls), 1)

        self.thread.finish_one()
        values = [self.successResultOf(result) for result in results]
        self.assertEqual(values, [1, 2, 3])

    def test_appends_during_write_batch(self):
        """Appends made while a write is in flight share the next one."""
        journal = self.open()
        first = journal.append(note("a"))
        self.clock.advance(0)
        later = [journal.append(note(t)) for t in ("b", "c", "d")]
        self.clock.advance(0)
        self.assertEqual(len(self.thread.calls), 1)

        self.thread.finish_one()
        self.assertEqual(self.successResultOf(first), 1)
        self.assertEqual(len(self.thread.calls), 1)
        for result in later:
            self.assertNoResult(result)

        self.thread.finish_one()
        values = [self.successResultOf(result) for result in later]
        self.assertEqual(values, [2, 3, 4])

    def test_fires_in_sequence_order(self):
        """Callbacks run in sequence order, across batches too."""
        journal = self.open()
        fired = []
        for i in range(5):
            journal.append(note(str(i))).addCallback(fired.append)
        self.clock.advance(0)
        for i in range(5, 8):
            journal.append(note(str(i))).addCallback(fired.append)
        self.thread.finish_all()
        self.assertEqual(fired, list(range(1, 9)))

    def test_unregistered_event_fails(self):
        """An unregistered event fails at once and takes no seq."""
        journal = self.open()
        bad = Unregistered(aggregate_id="x", time=utc_time(0))
        self.failureResultOf(journal.append(bad), RegistryError)
        self.assertEqual(self.append_and_write(journal, "a"), [1])

    def test_non_json_payload_fails(self):
        """A payload that JSON cannot hold fails and takes no seq."""
        journal = self.open()
        bad = NoteTaken(aggregate_id="notes", time=utc_time(0), text={1})
        failure = self.failureResultOf(journal.append(bad), TypeError)
        self.assertIn("set", str(failure.value))
        self.assertEqual(self.append_and_write(journal, "a"), [1])

    def test_reopen_continues_numbering(self):
        """A reopened journal continues after the last seq on disk."""
        journal = self.open()
        self.append_and_write(journal, "a", "b")
        journal = self.reopen(journal)
        self.assertEqual(journal.last_seq, 2)
        self.assertEqual(self.append_and_write(journal, "c"), [3])

    def test_lines_carry_seq_and_record(self):
        """Each line stores its seq and the registry's record."""
        journal = self.open()
        self.append_and_write(journal, "a", "b")
        lines = list(read_lines(self.directory))
        self.assertEqual([line.seq for line in lines], [1, 2])
        self.assertEqual(lines[1].line, 2)
        self.assertEqual(lines[1].record["type"], "NoteTaken")
        self.assertEqual(lines[1].record["data"], {"text": "b"})


class ReadTests(JournalTestCase):
    """Replay through Journal.read."""

    def test_read_all_and_after(self):
        """read() yields decoded events in order, after the given seq."""
        journal = self.open()
        self.append_and_write(journal, "a", "b", "c")
        everything = list(journal.read())
        self.assertEqual([seq for seq, _ in everything], [1, 2, 3])
        self.assertEqual(everything[2][1], note("c"))
        self.assertEqual([s for s, _ in journal.read(after=2)], [3])
        self.assertEqual(list(journal.read(after=3)), [])

    def test_read_skips_unacknowledged(self):
        """read() stops at last_seq while a later batch is in flight."""
        journal = self.open()
        self.append_and_write(journal, "a")
        journal.append(note("b"))
        self.clock.advance(0)
        self.assertEqual([s for s, _ in journal.read()], [1])

    def test_empty_journal_reads_nothing(self):
        """A new journal has last_seq 0 and no events."""
        journal = self.open()
        self.assertEqual(journal.last_seq, 0)
        self.assertEqual(list(journal.read()), [])


class RotationTests(JournalTestCase):
    """Segments start at segment_bytes, named by their first seq."""

    def test_rotates_at_segment_bytes(self):
        """Each batch that would pass segment_bytes starts a segment."""
        journal = self.open(segment_bytes=400)
        for i in range(6):
            self.append_and_write(journal, f"event {i}")
        names = sorted(p.name for p in self.directory.glob("journal-*"))
        self.assertEqual(
            names,
            [f"journal-{seq:020d}.jsonl" for seq in (1, 3, 5)],
        )
        self.assertEqual([s for s, _ in journal.read()], list(range(1, 7)))
        self.assertEqual([s for s, _ in journal.read(after=4)], [5, 6])

    def test_burst_rotates_at_segment_bytes(self):
        """Appends of one turn are written in steps that rotate segments."""
        journal = self.open(segment_bytes=400)
        seqs = self.append_and_write(
            journal, *[f"event {i}" for i in range(6)]
        )
        self.assertEqual(seqs, list(range(1, 7)))
        segments = sorted(self.directory.glob("journal-*"))
        self.assertEqual(
            [p.name for p in segments],
            [f"journal-{seq:020d}.jsonl" for seq in (1, 3, 5)],
        )
        for segment in segments:
            self.assertLessEqual(segment.stat().st_size, 400)
        self.assertEqual(verify(self.directory, registry), [])

    def test_line_over_segment_bytes_alone(self):
        """A line longer than segment_bytes gets a segment of its own."""
        journal = self.open(segment_bytes=100)
        self.append_and_write(journal, "a", "b", "c")
        self.assertEqual(len(list(self.directory.glob("journal-*"))), 3)
        self.assertEqual([s for s, _ in journal.read()], [1, 2, 3])

    def test_reopen_keeps_rotating(self):
        """After reopening, appends go on into the last segment."""
        journal = self.open(segment_bytes=400)
        self.append_and_write(journal, "event a")
        journal = self.reopen(journal, segment_bytes=400)
        self.append_and_write(journal, "event b")
        self.append_and_write(journal, "event c")
        segments = sorted(self.directory.glob("journal-*"))
        self.assertEqual(len(segments), 2)
        self.assertEqual(verify(self.directory, registry), [])


class FailureTests(JournalTestCase):
    """A failed write fails its batch and every later append."""

    def fail_next_write(self):
        """Point the first segment at /dev/full, so writes get ENOSPC."""
        segment = self.directory / "journal-00000000000000000001.jsonl"
        segment.symlink_to("/dev/full")
        self.addCleanup(segment.unlink)

    def test_failed_write_fails_batch(self):
        """ENOSPC fails each append of the batch with the OS error."""
        journal = self.open()
        self.fail_next_write()
        results = [journal.append(note(str(i))) for i in range(3)]
        self.clock.advance(0)
        self.thread.finish_one()
        for result in results:
            failure = self.failureResultOf(result, JournalWriteError)
            self.assertIn("No space left on device", str(failure.value))
            self.assertIn("restart the process", str(failure.value))
        self.assertEqual(journal.last_seq, 0)
        self.assertEqual(len(self.flushLoggedErrors(JournalWriteError)), 1)

    def test_appends_after_failure_fail(self):
        """Pending and later appends fail, saying to restart."""
        journal = self.open()
        self.fail_next_write()
        journal.append(note("a")).addErrback(lambda _: None)
        self.clock.advance(0)
        pending = journal.append(note("b"))
        self.thread.finish_one()
        self.failureResultOf(pending, JournalFailedError)

        later = journal.append(note("c"))
        failure = self.failureResultOf(later, JournalFailedError)
        self.assertIn("restart the process", str(failure.value))
        self.assertEqual(self.thread.calls, [])
        self.assertEqual(len(self.flushLoggedErrors(JournalWriteError)), 1)


class SyncFailureTests(JournalTestCase):
    """A failed fdatasync after a complete write."""

    def test_failed_sync_cuts_batch(self):
        """EIO from fdatasync fails the batch and cuts it off the file."""
        journal = self.open()
        self.append_and_write(journal, "a")
        (segment,) = self.directory.glob("journal-*.jsonl")
        size = segment.stat().st_size

        def fail_sync(fd):
            raise OSError(errno.EIO, "Input/output error")

        self.patch(os, "fdatasync", fail_sync)
        result = journal.append(note("b"))
        self.clock.advance(0)
        self.thread.finish_one()
        failure = self.failureResultOf(result, JournalWriteError)
        self.assertIn("Input/output error", str(failure.value))
        self.assertEqual(segment.stat().st_size, size)
        self.assertEqual(len(self.flushLoggedErrors(JournalWriteError)), 1)

        journal = self.reopen(journal)
        self.assertEqual(journal.last_seq, 1)
        self.assertEqual([s for s, _ in journal.read()], [1])


class CloseTests(JournalTestCase):
    """Closing waits for writes, then rejects appends."""

    def test_close_waits_for_writes(self):
        """close() fires after the batches in flight and pending."""
        journal = self.open()
        first = journal.append(note("a"))
        self.clock.advance(0)
        second = journal.append(note("b"))
        closed = journal.close()
        self.assertNoResult(closed)

        self.thread.finish_all()
        self.assertEqual(self.successResultOf(first), 1)
        self.assertEqual(self.successResultOf(second), 2)
        self.assertIsNone(self.successResultOf(closed))
        self.assertTrue(self.thread.stopped)

    def test_append_after_close_fails(self):
        """Appends after close() fail with JournalClosedError."""
        journal = self.open()
        journal.close()
        self.thread.finish_all()
        self.failureResultOf(journal.append(note("a")), JournalClosedError)

    def test_second_open_is_locked(self):
        """Only one journal at a time has a directory open."""
        journal = self.open()
        with self.assertRaises(JournalLockedError) as caught:
            self.open()
        self.assertIn("already open", str(caught.exception))
        self.reopen(journal)


class NoReactorTests(JournalTestCase):
    """Tools open journals to read them, with no reactor running."""

    def test_read_and_close_without_reactor(self):
        """Journal.open with a Clock reads, and closes at once."""
        self.append_and_write(self.open(), "a", "b")
        self.journals[0].close()
        self.thread.finish_all()
        self.journals.clear()

        journal = Journal.open(self.directory, registry, Clock())
        self.assertEqual([s for s, _ in journal.read()], [1, 2])
        self.assertIsNone(self.successResultOf(journal.close()))
        Journal.open(self.directory, registry, Clock()).close()


def test_segment_bytes_invalid(tmp_path):
    """segment_bytes below 1 is rejected, naming the value."""
    with pytest.raises(ValueError, match="invalid segment_bytes 0"):
        open_journal(tmp_path, registry, Clock(), ManualThread(), 0)


@pytest_twisted.inlineCallbacks
def test_writer_thread_many_appends(tmp_path):
    """
    With the real writer thread, 2000 appends from 100 appenders are all
    acknowledged in order and read back intact.
    """
    journal = Journal.open(tmp_path, registry, reactor, segment_bytes=20000)
    fired = []

    def appender(name, count):
        done = Deferred()

        def step(seq):
            if seq is not None:
                fired.append(seq)
            if count[0] == 0:
                done.callback(None)
                return
            count[0] -= 1
            journal.append(note(name)).addCallback(step)

        step(None)
        return done

    yield gatherResults([appender(f"a{i}", [20]) for i in range(100)])
    yield journal.close()

    assert sorted(fired) == list(range(1, 2001))
    assert len(list(tmp_path.glob("journal-*"))) > 1
    assert verify(tmp_path, registry) == []
    reopened = Journal.open(tmp_path, registry, reactor)
    assert [seq for seq, _ in reopened.read()] == list(range(1, 2001))
    yield reopened.close()


@pytest_twisted.inlineCallbacks
def test_writer_thread_fires_in_order(tmp_path):
    """With the real writer thread, Deferreds fire in sequence order."""
    journal = Journal.open(tmp_path, registry, reactor)
    fired = []
    results = []
    for i in range(300):
        result = journal.append(note(str(i)))
        result.addCallback(fired.append)
        results.append(result)
        if i % 50 == 0:
            yield results[-1]
    yield gatherResults(results)
    yield journal.close()
    assert fired == list(range(1, 301))


@pytest_twisted.inlineCallbacks
def test_read_during_writes(tmp_path):
    """
    Reads while the writer thread appends see a gap-free prefix that
    ends at last_seq, never a line still being written.
    """
    journal = Journal.open(tmp_path, registry, reactor, segment_bytes=50000)
    prefixes = []
    results = []
    for round_number in range(20):
        for i in range(200):
            results.append(journal.append(note(f"{round_number}-{i}")))
        # The flush runs first in this turn, so a write is now in flight.
        yield deferLater(reactor, 0, lambda: None)
        last_seq = journal.last_seq
        prefixes.append(([s for s, _ in journal.read()], last_seq))
        yield results[-1]
    yield journal.close()

    assert len(prefixes) == 20
    for seqs, last_seq in prefixes:
        assert seqs == list(range(1, last_seq + 1))
    assert prefixes[-1][1] >= 19 * 200
