"""Tests for Core's projection: pools and templates folded from events."""

import json

import pytest
from core_strategies import core_events, numbered
from hypothesis import given
from hypothesis import strategies as st

from nano.events import Event, EventRegistry, utc_time
from nano.events.core import (
    ComputePoolCreated,
    ComputePoolDeleted,
    ComputePoolModified,
    SystemTemplateCreated,
    SystemTemplateDeleted,
    SystemTemplateModified,
)
from nano.projections import (
    PROJECTIONS,
    CoreProjection,
    Projected,
    SnapshotFormatError,
    fold,
)
from nano.projections.core import ComputePool, SystemTemplate

T0 = utc_time(1_796_400_000)
CENTOS = {
    "name": "CentOS 7",
    "admin": "root",
    "operating_system": "linux",
    "disk": "scsi",
    "network": "virtio",
    "display": "vga",
    "control": "vnc",
    "usb": "nec-xhci",
    "tablet": "usb",
}
POOL_JSON = {
    "storage": None,
    "network": "addresses-1",
    "failover": False,
    "enabled": True,
}
projection = CoreProjection()


def apply_all(*events, state=None):
    """Fold events into the initial state, or into ``state``."""
    if state is None:
        state = projection.initial()
    for event in events:
        state = projection.apply(state, event)
    return state


def pool_created(name="default", **settings):
    return ComputePoolCreated(aggregate_id=name, time=T0, **settings)


def template_created(id_="t-1", **changes):
    return SystemTemplateCreated(
        aggregate_id=id_, time=T0, **{**CENTOS, **changes}
    )


def test_initial_state_empty():
    """The initial state has no pools and no templates."""
    state = projection.initial()
    assert dict(state.pools) == {}
    assert dict(state.templates) == {}


def test_pool_created_defaults():
    """A created pool uses local storage, no address pool, no failover."""
    state = apply_all(pool_created("default"))
    assert state.pools["default"] == ComputePool(
        name="default",
        storage=None,
        network=None,
        failover=False,
        enabled=True,
    )


def test_pool_modified_replaces_settings():
    """A modification sets every pool setting to the event's values."""
    modified = ComputePoolModified(
        aggregate_id="default",
        time=T0,
        storage="nfs-1",
        network="addresses-1",
        failover=True,
        enabled=False,
    )
    state = apply_all(pool_created("default"), modified)
    pool = state.pools["default"]
    assert pool.storage == "nfs-1"
    assert pool.network == "addresses-1"
    assert pool.failover is True
    assert pool.enabled is False


def test_pool_deleted_removes_only_it():
    """Deleting one pool keeps the others."""
    deleted = ComputePoolDeleted(aggregate_id="default", time=T0)
    state = apply_all(pool_created("default"), pool_created("fast"), deleted)
    assert set(state.pools) == {"fast"}


def test_missing_aggregate_unchanged():
    """Modifying or deleting an id that does not exist changes nothing."""
    before = apply_all(pool_created("default"), template_created("t-1"))
    after = apply_all(
        ComputePoolModified(
            aggregate_id="gone",
            time=T0,
            storage=None,
            network=None,
            failover=False,
            enabled=True,
        ),
        ComputePoolDeleted(aggregate_id="gone", time=T0),
        SystemTemplateModified(aggregate_id="t-9", time=T0, **CENTOS),
        SystemTemplateDeleted(aggregate_id="t-9", time=T0),
        state=before,
    )
    assert after == before


def test_template_lifecycle():
    """Templates are created, modified and deleted by id."""
    created = apply_all(template_created("t-1"), template_created("t-2"))
    assert created.templates["t-1"] == SystemTemplate(id="t-1", **CENTOS)

    legacy = {**CENTOS, "name": "Legacy", "disk": "ide", "display": "cirrus"}
    modified = apply_all(
        SystemTemplateModified(aggregate_id="t-1", time=T0, **legacy),
        state=created,
    )
    assert modified.templates["t-1"] == SystemTemplate(id="t-1", **legacy)
    assert modified.templates["t-2"] == created.templates["t-2"]

    deleted = apply_all(
        SystemTemplateDeleted(aggregate_id="t-2", time=T0), state=modified
    )
    assert set(deleted.templates) == {"t-1"}


def test_apply_leaves_input_state():
    """A fold returns a new state and never changes the one it was given."""
    before = apply_all(pool_created("default"))
    apply_all(
        ComputePoolDeleted(aggregate_id="default", time=T0), state=before
    )
    assert set(before.pools) == {"default"}


def test_unhandled_event_type_ignored():
    """An event type without a handler leaves the state unchanged."""
    registry = EventRegistry()

    @registry.event("SomethingElseHappened")
    class SomethingElseHappened(Event):
        pass

    before = apply_all(pool_created("default"))
    after = projection.apply(
        before, SomethingElseHappened(aggregate_id="x", time=T0)
    )
    assert after is before


def test_fold_records_position():
    """fold() returns the sequence number of the last event folded."""
    events = [(3, pool_created("a")), (7, pool_created("b"))]
    projected = fold(projection, events)
    assert projected.position == 7
    assert set(projected.state.pools) == {"a", "b"}


def test_fold_nothing_is_initial():
    """Folding no events gives the initial state at position 0."""
    assert fold(projection, []) == Projected(projection.initial(), 0)


@pytest.mark.parametrize("seq", [0, 5, 4])
def test_fold_rejects_old_sequence(seq):
    """An event at or before the position reached is an error."""
    start = fold(projection, [(5, pool_created("a"))])
    with pytest.raises(ValueError, match=f"event {seq} .* position 5"):
        fold(projection, [(seq, pool_created("b"))], start)


def test_projections_by_name():
    """PROJECTIONS contains the core projection under its name."""
    assert isinstance(PROJECTIONS["core"], CoreProjection)
    assert PROJECTIONS["core"].name == "core"


@given(st.lists(core_events, max_size=30))
def test_fold_deterministic(events):
    """The same events give the same state, in a fresh projection too."""
    first = fold(projection, numbered(events))
    second = fold(CoreProjection(), numbered(events))
    assert first == second


@given(st.lists(core_events, max_size=30), st.data())
def test_snapshot_plus_tail_equals_full(events, data):
    """
    Folding a prefix, storing it as JSON text and folding the rest gives
    the state of one fold over all events.
    """
    cut = data.draw(st.integers(0, len(events)), label="cut")
    pairs = numbered(events)
    head = fold(projection, pairs[:cut])
    text = json.dumps(projection.to_json(head.state))
    restored = Projected(projection.from_json(json.loads(text)), cut)

    assert fold(projection, pairs[cut:], restored) == fold(projection, pairs)


@given(st.lists(core_events, max_size=30), st.lists(core_events, max_size=30))
def test_apply_all_equals_apply_each(head, events):
    """
    Folding events through one draft gives the state that applying them
    one at a time gives, and leaves the state it started from as it was.
    """
    start = apply_all(*head)
    start_json = projection.to_json(start)
    assert projection.apply_all(start, events) == apply_all(
        *events, state=start
    )
    assert projection.to_json(start) == start_json


def test_apply_all_nothing_same_state():
    """A fold that changes nothing returns the state it was given."""
    before = apply_all(pool_created("default"))
    assert projection.apply_all(before, []) is before


@given(st.lists(core_events, max_size=30))
def test_json_round_trip(events):
    """from_json(to_json(state)) gives the same state."""
    state = fold(projection, numbered(events)).state
    text = json.dumps(projection.to_json(state))
    assert projection.from_json(json.loads(text)) == state


def test_to_json_shape():
    """A snapshot is a versioned object of pools and templates."""
    state = apply_all(pool_created("default", storage="nfs-1"))
    assert projection.to_json(state) == {
        "version": 3,
        "pools": {
            "default": {
                "storage": "nfs-1",
                "network": None,
                "failover": False,
                "enabled": True,
            }
        },
        "templates": {},
        "cells": {},
        "addresses": {"pools": {}, "allocations": []},
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"version": 4, "pools": {}, "templates": {}}, "version 4"),
        ({"pools": {}, "templates": {}}, "version None"),
        ([], "version None"),
        ({"version": 1, "templates": {}}, "missing field 'pools'"),
        ({"version": 1, "pools": [], "templates": {}}, "list"),
        (
            {"version": 1, "pools": {"a": {"storage": 1}}, "templates": {}},
            "invalid core snapshot",
        ),
        (
            {"version": 1, "pools": {}, "templates": {"t": {"name": "x"}}},
            "invalid core snapshot: template 't' has no field 'admin'",
        ),
        (
            {"version": 1, "pools": {"a": POOL_JSON}, "templates": []},
            "templates must be an object, not list",
        ),
        (
            {"version": 1, "pools": {"a": []}, "templates": {}},
            "pool 'a' must be an object, not",
        ),
        (
            {
                "version": 1,
                "pools": {"a": {**POOL_JSON, "failover": "yes"}},
                "templates": {},
            },
            "pool 'a' has failover 'yes', expected true or false",
        ),
        (
            {
                "version": 1,
                "pools": {"a": {**POOL_JSON, "storage": 7}},
                "templates": {},
            },
            "pool 'a' has storage 7, expected a string or null",
        ),
        (
            {
                "version": 1,
                "pools": {"a": {**POOL_JSON, "size": 1}},
                "templates": {},
            },
            r"pool 'a' has unknown fields \['size'\]",
        ),
        (
            {
                "version": 1,
                "pools": {},
                "templates": {"t": {**CENTOS, "usb": None}},
            },
            "template 't' has usb None, expected a string",
        ),
    ],
)
def test_from_json_rejects_bad_shape(data, message):
    """A snapshot of another version or shape raises SnapshotFormatError."""
    with pytest.raises(SnapshotFormatError, match=message):
        projection.from_json(data)
