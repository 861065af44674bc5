"""Tests of Core's guest events and their projection."""

from pathlib import Path

from nano.events import read_lines, verify
from nano.events.core import CORE_EVENTS
from nano.projections import PROJECTIONS, fold
from nano.projections.guests import GuestProjection

SAMPLE = Path(__file__).parents[1] / "events" / "samples" / "core-guests-v1"
WEB = "6f1d2c3b-0000-4000-8000-000000000001"
DB = "6f1d2c3b-0000-4000-8000-000000000002"


def sample_events():
    return [
        (line.seq, CORE_EVENTS.decode(line.record, f"{line.path}"))
        for line in read_lines(SAMPLE)
    ]


def test_sample_verifies():
    """verify() finds no problem in the guest events sample."""
    assert verify(SAMPLE, CORE_EVENTS) == []


def fold_up_to(seq):
    pairs = [pair for pair in sample_events() if pair[0] <= seq]
    return fold(GuestProjection(), pairs).state


def test_fold_of_a_created_guest():
    """Start, steps and GuestCreated give a created guest."""
    web = fold_up_to(5)[WEB]
    assert (web.status, web.steps) == (
        "created",
        ("reserve", "create", "start"),
    )
    assert (web.cell, web.cores, web.disks) == (
        "Cell_1",
        2,
        (10 * 1024**3, 20 * 1024**3),
    )


def test_fold_of_a_failed_guest():
    """A failed create keeps its reason; the rollback ends it."""
    assert fold_up_to(7)[DB].status == "failed"
    db = fold_up_to(8)[DB]
    assert db.status == "rolled back"
    assert "cannot write" in db.error


def test_deleted_guest_is_forgotten():
    """GuestDeleted removes the guest."""
    assert WEB not in fold_up_to(9)


def test_snapshot_round_trip():
    """from_json reads what to_json writes."""
    projection = GuestProjection()
    state = fold_up_to(8)
    assert projection.from_json(projection.to_json(state)) == state


def test_registered_for_nano_journal():
    """nano-journal can fold guests by name."""
    assert isinstance(PROJECTIONS["guests"], GuestProjection)


CACHE = "6f1d2c3b-0000-4000-8000-000000000003"


def test_fold_of_changes():
    """Rename, cores, memory and autostart changes fold in order."""
    assert fold_up_to(13)[CACHE].name == "cache-1"
    cache = fold_up_to(16)[CACHE]
    assert (cache.name, cache.cores, cache.memory) == (
        "cache-2",
        4,
        4 * 1024**3,
    )
    cache = fold_up_to(18)[CACHE]
    # seq 17 is the compensation of a memory change the Cell refused.
    assert (cache.memory, cache.auto_start) == (1024**3, True)
