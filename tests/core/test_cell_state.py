"""Core's state: the Cells of pools, folded from the Cell events, and
their place in snapshots."""

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nano.events import read_lines, utc_time, verify
from nano.events.core import (
    CORE_EVENTS,
    CellAdded,
    CellDisabled,
    CellEnabled,
    CellRemoved,
    ComputePoolCreated,
)
from nano.projections import CoreProjection, SnapshotFormatError
from nano.projections.core import PoolCell

T0 = utc_time(1_796_400_000)
PROJECTION = CoreProjection()


def added(cell, pool="p"):
    return CellAdded(aggregate_id=cell, time=T0, pool=pool)


def apply_all(*events):
    return PROJECTION.apply_all(PROJECTION.initial(), events)


def test_added_cell_enabled():
    """A Cell added to a pool is enabled."""
    state = apply_all(added("c1"))
    assert state.cells["c1"] == PoolCell("c1", "p", True)


def test_disable_then_enable():
    """CellDisabled and CellEnabled change only the enabled flag."""
    disabled = apply_all(added("c1"), CellDisabled(aggregate_id="c1", time=T0))
    assert disabled.cells["c1"] == PoolCell("c1", "p", False)
    enabled = PROJECTION.apply(
        disabled, CellEnabled(aggregate_id="c1", time=T0)
    )
    assert enabled.cells["c1"] == PoolCell("c1", "p", True)


def test_removed_cell_gone():
    """CellRemoved removes the Cell; events for missing Cells do nothing."""
    state = apply_all(
        added("c1"),
        CellRemoved(aggregate_id="c1", time=T0, pool="p"),
        CellEnabled(aggregate_id="c1", time=T0),
        CellDisabled(aggregate_id="c2", time=T0),
    )
    assert dict(state.cells) == {}


def test_cells_of_pool_sorted():
    """cells_of returns one pool's Cells, sorted by name."""
    state = apply_all(added("c2"), added("c1"), added("c3", "q"))
    assert [cell.name for cell in state.cells_of("p")] == ["c1", "c2"]
    assert [cell.name for cell in state.cells_of("q")] == ["c3"]
    assert state.cells_of("x") == []


def test_snapshot_round_trip():
    """Cells survive to_json and from_json."""
    state = apply_all(
        ComputePoolCreated(aggregate_id="p", time=T0),
        added("c1"),
        added("c2"),
        CellDisabled(aggregate_id="c2", time=T0),
    )
    data = json.loads(json.dumps(PROJECTION.to_json(state)))
    assert data["version"] == 3
    assert data["cells"] == {
        "c1": {"pool": "p", "enabled": True},
        "c2": {"pool": "p", "enabled": False},
    }
    assert PROJECTION.from_json(data) == state


def test_version_1_snapshot_loads():
    """A snapshot written before Core had Cells loads with none."""
    data = {
        "version": 1,
        "pools": {
            "p": {
                "storage": None,
                "network": None,
                "failover": False,
                "enabled": True,
            }
        },
        "templates": {},
    }
    state = PROJECTION.from_json(data)
    assert list(state.pools) == ["p"]
    assert dict(state.cells) == {}


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (None, "missing field 'cells'"),
        ([], "cells must be an object, not list"),
        ({"c": {"pool": "p"}}, "cell 'c' has no field 'enabled'"),
        (
            {"c": {"pool": 1, "enabled": True}},
            "cell 'c' has pool 1, expected a string",
        ),
        (
            {"c": {"pool": "p", "enabled": True, "x": 1}},
            "cell 'c' has unknown fields ['x']",
        ),
    ],
)
def test_invalid_cells_rejected(cells, message):
    """A version 2 snapshot with invalid cells is rejected, naming it."""
    data = {"version": 2, "pools": {}, "templates": {}}
    if cells is not None:
        data["cells"] = cells
    with pytest.raises(SnapshotFormatError, match=re.escape(message)):
        PROJECTION.from_json(data)


names = st.sampled_from(["c1", "c2", "c3"])
cell_events = st.one_of(
    st.builds(
        CellAdded,
        aggregate_id=names,
        time=st.just(T0),
        pool=st.sampled_from(["p", "q"]),
    ),
    st.builds(
        CellRemoved, aggregate_id=names, time=st.just(T0), pool=st.just("p")
    ),
    st.builds(CellEnabled, aggregate_id=names, time=st.just(T0)),
    st.builds(CellDisabled, aggregate_id=names, time=st.just(T0)),
)


@given(st.lists(cell_events, max_size=20))
def test_batch_fold_matches_single(events):
    """Folding a batch gives the state of folding events one by one,
    and that state survives a snapshot."""
    state = PROJECTION.initial()
    for event in events:
        state = PROJECTION.apply(state, event)
    assert apply_all(*events) == state
    assert PROJECTION.from_json(PROJECTION.to_json(state)) == state


SAMPLE = Path(__file__).parents[1] / "events" / "samples" / "core-cells-v1"


def test_cell_sample_decodes():
    """The frozen sample of the Cell events reads as they were written."""
    cell = "Cell_5254001a2b3c"
    expected = [
        CellAdded(
            aggregate_id=cell,
            time=utc_time(1_796_400_400),
            task_id="task-0007",
            pool="default",
        ),
        CellDisabled(
            aggregate_id=cell,
            time=utc_time(1_796_400_460),
            task_id="task-0008",
        ),
        CellEnabled(
            aggregate_id=cell,
            time=utc_time(1_796_400_520.25),
            task_id="task-0009",
        ),
        CellRemoved(
            aggregate_id=cell,
            time=utc_time(1_796_400_580),
            task_id="task-0010",
            pool="default",
        ),
    ]
    decoded = [
        CORE_EVENTS.decode(line.record, f"{line.path}:{line.line}")
        for line in read_lines(SAMPLE)
    ]
    assert decoded == expected
    assert verify(SAMPLE, CORE_EVENTS) == []
