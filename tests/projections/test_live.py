"""Tests for LiveProjection: persist first, then fold."""

from pathlib import Path

import pytest_twisted
from journal_helpers import append_all, close, open_test_journal, settle
from twisted.internet import reactor
from twisted.internet.defer import gatherResults
from twisted.trial.unittest import SynchronousTestCase

from nano.events import Journal, JournalClosedError, read_snapshot, utc_time
from nano.events.core import (
    CORE_EVENTS,
    ComputePoolCreated,
    ComputePoolDeleted,
)
from nano.projections import CoreProjection, LiveProjection, Projected, load

projection = CoreProjection()
T0 = utc_time(1_796_400_000)


def pool(name):
    return ComputePoolCreated(aggregate_id=name, time=T0)


class LiveProjectionTests(SynchronousTestCase):
    """LiveProjection over a real journal directory."""

    def setUp(self):
        self.directory = Path(self.mktemp())
        self.journal = open_test_journal(self.directory, CORE_EVENTS)
        self.addCleanup(close, self.journal)

    def test_starts_from_journal(self):
        """A new LiveProjection has the state of the existing journal."""
        append_all(self.journal, [pool("a"), pool("b")])
        live = LiveProjection(projection, self.journal)
        self.assertEqual(live.current, load(projection, self.journal))
        self.assertEqual(live.current.position, 2)

    def test_record_folds_after_disk(self):
        """The state changes only once the journal acknowledged the event."""
        live = LiveProjection(projection, self.journal)
        recorded = live.record(pool("a"))

        self.assertNoResult(recorded)
        self.assertEqual(live.current, Projected(projection.initial(), 0))

        settle(self.journal)
        projected = self.successResultOf(recorded)
        self.assertEqual(projected.position, 1)
        self.assertIn("a", projected.state.pools)
        self.assertIs(live.current, projected)

    def test_recorded_events_on_disk(self):
        """What record() folded is what a fresh load of the journal gives."""
        live = LiveProjection(projection, self.journal)
        live.record(pool("a"))
        live.record(pool("b"))
        live.record(ComputePoolDeleted(aggregate_id="a", time=T0))
        settle(self.journal)
        close(self.journal)

        reopened = open_test_journal(self.directory, CORE_EVENTS)
        self.addCleanup(close, reopened)
        self.assertEqual(load(projection, reopened), live.current)
        self.assertEqual(set(live.current.state.pools), {"b"})

    def test_concurrent_records_in_order(self):
        """Records that share one write fire in sequence order."""
        live = LiveProjection(projection, self.journal)
        recorded = [live.record(pool(name)) for name in "abc"]
        settle(self.journal)

        positions = [self.successResultOf(d).position for d in recorded]
        self.assertEqual(positions, [1, 2, 3])
        self.assertEqual(live.current.position, 3)

    def test_failed_append_keeps_state(self):
        """An event the journal rejects is not folded."""
        live = LiveProjection(projection, self.journal)
        close(self.journal)

        failure = self.failureResultOf(live.record(pool("a")))
        failure.trap(JournalClosedError)
        self.assertEqual(live.current, Projected(projection.initial(), 0))

    def test_catches_up_other_appends(self):
        """Events appended past the projection are folded on the next one."""
        live = LiveProjection(projection, self.journal)
        append_all(self.journal, [pool("elsewhere")])
        recorded = live.record(pool("a"))
        settle(self.journal)

        projected = self.successResultOf(recorded)
        self.assertEqual(projected.position, 2)
        self.assertEqual(set(projected.state.pools), {"elsewhere", "a"})

    def test_compact_current_state(self):
        """compact() snapshots the current state, which load() then uses."""
        live = LiveProjection(projection, self.journal)
        live.record(pool("a"))
        live.record(pool("b"))
        settle(self.journal)

        path = live.compact()
        snapshot = read_snapshot(self.directory, "core")
        self.assertEqual(snapshot.path, path)
        self.assertEqual(snapshot.seq, 2)
        self.assertEqual(snapshot.state["last_event"]["aggregate_id"], "b")
        self.assertEqual(load(projection, self.journal), live.current)


@pytest_twisted.inlineCallbacks
def test_real_writer_thread(tmp_path):
    """
    Under the real reactor and writer thread, 200 concurrent records all
    fold in sequence order, a snapshot is written mid-way, and a restart
    loads the same state from it.
    """
    journal = Journal.open(tmp_path, CORE_EVENTS, reactor, segment_bytes=4096)
    live = LiveProjection(projection, journal)
    first = [live.record(pool(f"p{index}")) for index in range(100)]
    yield gatherResults(first)
    live.compact()
    second = [
        live.record(ComputePoolDeleted(aggregate_id=f"p{index}", time=T0))
        for index in range(0, 100, 2)
    ]
    positions = yield gatherResults(second)
    yield journal.close()

    assert [p.position for p in positions] == list(range(101, 151))
    assert len(live.current.state.pools) == 50
    reopened = Journal.open(tmp_path, CORE_EVENTS, reactor)
    try:
        assert read_snapshot(tmp_path, "core").seq == 100
        assert load(projection, reopened) == live.current
    finally:
        yield reopened.close()
