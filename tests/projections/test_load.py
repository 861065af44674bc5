"""
Tests for start-up (newest snapshot plus the journal tail) and compaction,
on real journal files.
"""

import tempfile
from pathlib import Path

from core_strategies import core_events
from hypothesis import given, settings
from hypothesis import strategies as st
from journal_helpers import append_all, close, open_test_journal
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from nano.events import read_snapshot, repair, utc_time, write_snapshot
from nano.events.core import CORE_EVENTS, ComputePoolCreated
from nano.projections import CoreProjection, Projected, compact, fold, load

projection = CoreProjection()
T0 = utc_time(1_796_400_000)


def pool(name, storage=None):
    return ComputePoolCreated(aggregate_id=name, time=T0, storage=storage)


def full_replay(journal) -> Projected:
    return fold(projection, journal.read())


def warnings(logs) -> list[str]:
    return [
        event["log_format"]
        for event in logs
        if event["log_level"].name == "warn"
    ]


@settings(max_examples=25, deadline=None)
@given(st.lists(core_events, max_size=20), st.data())
def test_snapshot_plus_tail_equals_full(events, data):
    """
    Compacting after any prefix and loading after the rest gives the
    state of a full replay, through real journal and snapshot files.
    """
    cut = data.draw(st.integers(0, len(events)), label="cut")
    with tempfile.TemporaryDirectory() as directory:
        journal = open_test_journal(directory, CORE_EVENTS)
        append_all(journal, events[:cut])
        compact(projection, journal)
        append_all(journal, events[cut:])

        assert load(projection, journal) == full_replay(journal)
        close(journal)


class LoadTests(SynchronousTestCase):
    """load() and compact() against a real journal directory."""

    def setUp(self):
        self.directory = Path(self.mktemp())
        self.journal = open_test_journal(self.directory, CORE_EVENTS)
        self.addCleanup(close, self.journal)

    def test_empty_journal_initial(self):
        """An empty journal loads as the initial state at position 0."""
        self.assertEqual(
            load(projection, self.journal), Projected(projection.initial(), 0)
        )

    def test_no_snapshot_full_replay(self):
        """Without a snapshot, load() folds the whole journal."""
        append_all(self.journal, [pool("a"), pool("b")])
        projected = load(projection, self.journal)
        self.assertEqual(projected.position, 2)
        self.assertEqual(set(projected.state.pools), {"a", "b"})

    def test_compact_writes_snapshot_at_end(self):
        """compact() writes a snapshot at the journal's last event."""
        append_all(self.journal, [pool("a"), pool("b"), pool("c")])
        path = compact(projection, self.journal)

        snapshot = read_snapshot(self.directory, "core")
        self.assertEqual(snapshot.path, path)
        self.assertEqual(snapshot.seq, 3)
        self.assertEqual(
            snapshot.state["last_event"],
            {
                "type": "ComputePoolCreated",
                "aggregate_id": "c",
                "time": "2026-12-04T16:00:00.000000Z",
            },
        )

    def test_compact_empty_journal(self):
        """Compacting an empty journal writes a snapshot at position 0."""
        compact(projection, self.journal)
        self.assertEqual(read_snapshot(self.directory, "core").seq, 0)
        self.assertEqual(load(projection, self.journal).position, 0)

    def test_load_starts_from_snapshot(self):
        """
        load() takes the state from the snapshot, not from the events
        before it: a snapshot whose state differs from the journal shows
        that.
        """
        append_all(self.journal, [pool("a")])
        compact(projection, self.journal)
        self.rewrite_snapshot(storage="changed-in-snapshot")
        append_all(self.journal, [pool("b")])

        projected = load(projection, self.journal)
        self.assertEqual(projected.position, 2)
        self.assertEqual(
            projected.state.pools["a"].storage, "changed-in-snapshot"
        )
        self.assertIn("b", projected.state.pools)

    def test_snapshot_past_end_ignored(self):
        """A snapshot after the journal's last event is ignored."""
        append_all(self.journal, [pool("a"), pool("b")])
        state = {
            "last_event": None,
            "state": projection.to_json(projection.initial()),
        }
        write_snapshot(self.directory, "core", 9, state)

        with capturedLogs() as logs:
            projected = load(projection, self.journal)
        self.assertEqual(projected, full_replay(self.journal))
        self.assertEqual(len(warnings(logs)), 1)

    def test_cut_journal_snapshot_ignored(self):
        """
        After a repair cut the journal and other events were appended in
        the cut ones' place, the old snapshot no longer matches and the
        whole journal is replayed.
        """
        append_all(self.journal, [pool("a"), pool("b"), pool("c")])
        compact(projection, self.journal)
        close(self.journal)
        self.damage_line(2)
        repair(self.directory, self.directory.with_name("backup"))

        self.journal = open_test_journal(self.directory, CORE_EVENTS)
        append_all(self.journal, [pool("x"), pool("y")])
        with capturedLogs() as logs:
            projected = load(projection, self.journal)

        self.assertEqual(set(projected.state.pools), {"a", "x", "y"})
        self.assertEqual(projected.position, 3)
        self.assertEqual(len(warnings(logs)), 1)

    def test_other_snapshot_version_ignored(self):
        """A snapshot of another state version is replaced by a replay."""
        append_all(self.journal, [pool("a")])
        compact(projection, self.journal)
        self.rewrite_snapshot(version=99)

        with capturedLogs() as logs:
            projected = load(projection, self.journal)
        self.assertEqual(projected, full_replay(self.journal))
        self.assertEqual(len(warnings(logs)), 1)

    def test_snapshot_without_wrapper_ignored(self):
        """A snapshot that is not a state with its last event is ignored."""
        append_all(self.journal, [pool("a")])
        write_snapshot(self.directory, "core", 1, [1, 2, 3])
        self.assertEqual(
            load(projection, self.journal), full_replay(self.journal)
        )

    def rewrite_snapshot(self, storage=None, version=None):
        """Rewrite the newest snapshot with a changed pool or version."""
        snapshot = read_snapshot(self.directory, "core")
        state = snapshot.state
        if storage is not None:
            state["state"]["pools"]["a"]["storage"] = storage
        if version is not None:
            state["state"]["version"] = version
        snapshot.path.unlink()
        write_snapshot(self.directory, "core", snapshot.seq, state)

    def damage_line(self, number: int):
        """Change one byte of a journal line so its checksum fails."""
        [segment] = sorted(self.directory.glob("journal-*.jsonl"))
        lines = segment.read_bytes().split(b"\n")
        lines[number - 1] = lines[number - 1].replace(b'"b"', b'"B"')
        segment.write_bytes(b"\n".join(lines))
