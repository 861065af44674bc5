"""Tests of the address pool events and their part of Core's state."""

import json
from pathlib import Path

import pytest

from nano.events import read_lines, utc_time, verify
from nano.events.addresses import (
    AddressAllocated,
    AddressPoolCreated,
    AddressReleased,
)
from nano.events.core import CORE_EVENTS
from nano.projections import CoreProjection, SnapshotFormatError, fold
from nano.projections.addresses import AddressRange, Allocation

SAMPLE = Path(__file__).parents[2] / "events" / "samples" / "core-addresses-v1"
WEB = "6f1d2c3b-0000-4000-8000-000000000001"
DB = "6f1d2c3b-0000-4000-8000-000000000002"
T0 = utc_time(1_796_400_000)
PROJECTION = CoreProjection()


def sample_events():
    return [
        (line.seq, CORE_EVENTS.decode(line.record, f"{line.path}"))
        for line in read_lines(SAMPLE)
    ]


def fold_up_to(seq):
    pairs = [pair for pair in sample_events() if pair[0] <= seq]
    return fold(PROJECTION, pairs).state.addresses


def test_sample_verifies():
    """verify() finds no problem in the address events sample."""
    assert verify(SAMPLE, CORE_EVENTS) == []


def test_sample_pool_and_ranges():
    """A created pool gets its settings and both kinds of range."""
    pool = fold_up_to(3).pools["lan"]
    assert (pool.gateway, pool.dns) == (
        "10.213.7.1",
        ("10.213.7.1", "10.213.0.53"),
    )
    assert (pool.provider, pool.mode) == ("dhcp", "internal")
    assert pool.ranges_of("internal") == [
        AddressRange("internal", "10.213.7.10", "10.213.7.19", "255.255.255.0")
    ]
    assert [each.start for each in pool.ranges_of("external")] == [
        "10.213.9.10"
    ]


def test_sample_allocations():
    """Allocations fill both lookups, and a release empties both."""
    allocated = fold_up_to(5)
    assert allocated.instances == {WEB: "10.213.7.10", DB: "10.213.7.11"}
    assert allocated.allocations["10.213.7.11"] == Allocation(
        "lan", "10.213.7.11", DB, "task-0105"
    )
    released = fold_up_to(6)
    assert WEB not in released.instances
    assert "10.213.7.10" not in released.allocations
    assert set(released.instances) == {DB}


def test_sample_modify_remove_delete():
    """A modification replaces settings, and ranges and pools go away."""
    state = fold_up_to(10)
    pool = state.pools["lan"]
    assert (pool.gateway, pool.dns, pool.provider) == (
        "10.213.7.254",
        (),
        "cloudinit",
    )
    assert pool.ranges_of("external") == []
    assert len(pool.ranges_of("internal")) == 1
    assert set(state.pools) == {"lan"}


def test_sample_snapshot_round_trip():
    """A snapshot of the sample's state reads back as the same state."""
    state = fold(PROJECTION, sample_events()).state
    text = json.dumps(PROJECTION.to_json(state))
    assert PROJECTION.from_json(json.loads(text)) == state


def test_version_2_snapshot_has_no_address_pools():
    """A snapshot written before address pools loads with none."""
    data = {"version": 2, "pools": {}, "templates": {}, "cells": {}}
    state = PROJECTION.from_json(data)
    assert dict(state.addresses.pools) == {}
    assert dict(state.addresses.allocations) == {}


def test_pool_deleted_drops_its_allocations():
    """Deleting a pool removes its allocations from both lookups."""
    state = PROJECTION.apply_all(
        PROJECTION.initial(),
        [
            pool_created("lan"),
            allocated("lan", "10.213.7.10", "i-1"),
            CORE_EVENTS.types()["AddressPoolDeleted"](
                aggregate_id="lan", time=T0
            ),
        ],
    )
    assert dict(state.addresses.instances) == {}
    assert dict(state.addresses.allocations) == {}


def test_release_of_other_instance_ignored():
    """A release naming another instance leaves the allocation."""
    state = PROJECTION.apply_all(
        PROJECTION.initial(),
        [
            pool_created("lan"),
            allocated("lan", "10.213.7.10", "i-1"),
            AddressReleased(
                aggregate_id="lan",
                time=T0,
                address="10.213.7.10",
                instance="i-2",
            ),
        ],
    )
    assert state.addresses.instances == {"i-1": "10.213.7.10"}


def test_second_allocation_replaces_first():
    """An instance has one address: a new allocation frees the old one."""
    state = PROJECTION.apply_all(
        PROJECTION.initial(),
        [
            pool_created("lan"),
            allocated("lan", "10.213.7.10", "i-1"),
            allocated("lan", "10.213.7.11", "i-1"),
        ],
    )
    assert state.addresses.instances == {"i-1": "10.213.7.11"}
    assert set(state.addresses.allocations) == {"10.213.7.11"}


def pool_created(name):
    return AddressPoolCreated(
        aggregate_id=name,
        time=T0,
        gateway="10.213.7.1",
        dns=["10.213.7.1"],
        provider="dhcp",
        mode="internal",
    )


def allocated(pool, address, instance):
    return AddressAllocated(
        aggregate_id=pool, time=T0, address=address, instance=instance
    )


def snapshot(addresses):
    return {
        "version": 3,
        "pools": {},
        "templates": {},
        "cells": {},
        "addresses": addresses,
    }


GOOD_POOL = {
    "gateway": "10.213.7.1",
    "dns": [],
    "provider": "dhcp",
    "mode": "internal",
    "ranges": [],
}


@pytest.mark.parametrize(
    ("addresses", "message"),
    [
        (None, "addresses must be an object"),
        ({"pools": [], "allocations": []}, "pools must be an object"),
        ({"pools": {}, "allocations": {}}, "allocations must be a list"),
        (
            {"pools": {"lan": {**GOOD_POOL, "mode": 1}}, "allocations": []},
            "pool 'lan' has mode 1",
        ),
        (
            {"pools": {"lan": {**GOOD_POOL, "dns": [1]}}, "allocations": []},
            r"pool 'lan' has dns \[1\]",
        ),
        (
            {"pools": {"lan": {"gateway": "x"}}, "allocations": []},
            "pool 'lan' must have the fields",
        ),
        (
            {
                "pools": {"lan": {**GOOD_POOL, "ranges": [{"type": "x"}]}},
                "allocations": [],
            },
            "range of 'lan' must have the fields",
        ),
        (
            {"pools": {}, "allocations": [{"pool": "lan"}]},
            "allocation must have the fields",
        ),
    ],
)
def test_from_json_rejects_bad_addresses(addresses, message):
    """A snapshot with badly shaped addresses raises SnapshotFormatError."""
    with pytest.raises(SnapshotFormatError, match=message):
        PROJECTION.from_json(snapshot(addresses))
