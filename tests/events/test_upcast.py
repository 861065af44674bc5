"""Tests for upcasting: old event records read as the current version."""

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nano.events import (
    Event,
    EventRegistry,
    RegistryError,
    UnknownEventVersion,
    utc_time,
)

TIME = "2026-12-04T16:00:00.000000Z"


def chain_registry(current: int, missing: frozenset = frozenset()):
    """
    Return a registry whose ``StepsTaken`` type is at version ``current``,
    with an upcaster for every step except those in ``missing``. Each
    upcaster appends its starting version to the payload's ``steps``.
    """
    registry = EventRegistry()

    @registry.event("StepsTaken", version=current)
    class StepsTaken(Event):
        steps: tuple = attrs.field(converter=tuple)

    for version in range(1, current):
        if version not in missing:
            registry.upcaster("StepsTaken", version)(append_step(version))
    return registry


def append_step(version: int):
    def upcast(data: dict) -> dict:
        return {**data, "steps": [*data["steps"], version]}

    return upcast


def record(version: int, data=None) -> dict:
    return {
        "type": "StepsTaken",
        "version": version,
        "time": TIME,
        "aggregate_id": "a",
        "task_id": None,
        "data": {"steps": []} if data is None else data,
    }


@given(
    st.integers(1, 12).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(1, n))
    )
)
def test_chain_applies_every_step(versions):
    """A record of version k passes through upcasters k .. current-1."""
    current, stored = versions
    event = chain_registry(current).decode(record(stored))
    assert event.steps == tuple(range(stored, current))


@given(
    st.integers(2, 12).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(1, n - 1), st.data())
    )
)
def test_missing_step_is_error(args):
    """
    A gap in the chain fails records at or below it, naming the type,
    version and position, and leaves newer records readable.
    """
    current, gap, data = args
    registry = chain_registry(current, missing=frozenset({gap}))

    stored = data.draw(st.integers(1, gap), label="stored")
    with pytest.raises(UnknownEventVersion) as caught:
        registry.decode(record(stored), "core-1.jsonl:42")
    message = str(caught.value)
    assert message.startswith("core-1.jsonl:42: ")
    assert f"StepsTaken version {gap} has no upcaster" in message

    newer = data.draw(st.integers(gap + 1, current), label="newer")
    assert registry.decode(record(newer)).steps == tuple(range(newer, current))


def test_check_lists_missing_steps():
    """check() names every missing upcaster, before any record is read."""
    registry = chain_registry(5, missing=frozenset({2, 4}))
    with pytest.raises(RegistryError) as caught:
        registry.check()
    assert str(caught.value) == (
        "missing upcasters: StepsTaken 2 -> 3, StepsTaken 4 -> 5"
    )


def test_check_passes_complete_chain():
    """check() accepts a registry with every step."""
    assert chain_registry(5).check() is None


def test_newer_version_is_error():
    """A record from a newer Nano is an error asking for an upgrade."""
    with pytest.raises(UnknownEventVersion, match="upgrade Nano") as caught:
        chain_registry(3).decode(record(4), "core-1.jsonl:9")
    assert "StepsTaken version 4 is newer" in str(caught.value)
    assert caught.value.position == "core-1.jsonl:9"


@pytest.mark.parametrize("version", [0, -1, "1", True, None, 1.0])
def test_invalid_version_is_error(version):
    """Versions are integers from 1."""
    with pytest.raises(UnknownEventVersion, match="invalid version"):
        chain_registry(3).decode(record(version))


def test_upcaster_sees_copy():
    """An upcaster that changes its argument leaves the record as read."""
    registry = EventRegistry()

    @registry.event("Renamed", version=2)
    class Renamed(Event):
        size: int

    @registry.upcaster("Renamed", 1)
    def megabytes_to_bytes(data):
        data["size"] = data.pop("size_mb") * 2**20
        return data

    stored = {**record(1, {"size_mb": 3}), "type": "Renamed"}
    event = registry.decode(stored)
    assert event.size == 3 * 2**20
    assert stored["data"] == {"size_mb": 3}


def test_current_version_not_upcast():
    """A record at the current version is decoded as stored."""
    event = chain_registry(4).decode(record(4, {"steps": [9]}))
    assert event.steps == (9,)
    assert event.time == utc_time(1_796_400_000)


def test_duplicate_upcaster_rejected():
    """Each step has one upcaster."""
    registry = chain_registry(3)
    with pytest.raises(RegistryError, match="already has an upcaster from"):
        registry.upcaster("StepsTaken", 1)(append_step(1))
