"""
Core's address pools, their ranges and allocations, folded from the
address events of Core's journal.

:class:`~nano.projections.core.CoreProjection` keeps an
:class:`AddressState` in :attr:`CoreState.addresses
<nano.projections.core.CoreState.addresses>` and snapshots it with
:func:`addresses_to_json`. The fold trusts Core's commands to have
checked each change (no overlap, no address allocated twice); it only
keeps its lookups consistent.
"""

from collections.abc import Mapping
from ipaddress import IPv4Address

import attrs
from pyrsistent import PMap, pmap

from nano.events.addresses import (
    AddressAllocated,
    AddressPoolCreated,
    AddressPoolDeleted,
    AddressPoolModified,
    AddressRangeAdded,
    AddressRangeRemoved,
    AddressReleased,
)

from ._projection import SnapshotFormatError


@attrs.frozen
class AddressRange:
    """A range of addresses, ``start`` to ``end`` inclusive."""

    type: str
    start: str
    end: str
    netmask: str


@attrs.frozen
class AddressPool:
    """
    An address pool's settings and ranges.

    :ivar ranges: :class:`AddressRange` by ``(type, start)``.
    """

    name: str
    gateway: str
    dns: tuple
    provider: str
    mode: str
    ranges: PMap = attrs.field(factory=pmap)

    def ranges_of(self, range_type: str) -> list[AddressRange]:
        """Return the ranges of one type, by start address."""
        ranges = [
            address_range
            for (type_, _), address_range in self.ranges.items()
            if type_ == range_type
        ]
        return sorted(ranges, key=lambda each: IPv4Address(each.start))


@attrs.frozen
class Allocation:
    """One address given to one instance by the task ``task_id``."""

    pool: str
    address: str
    instance: str
    task_id: str | None


@attrs.frozen
class AddressState:
    """
    Every address pool and allocation.

    :ivar pools: :class:`AddressPool` by name.
    :ivar allocations: :class:`Allocation` by address.
    :ivar instances: the allocated address by instance id.
    """

    pools: PMap = attrs.field(factory=pmap)
    allocations: PMap = attrs.field(factory=pmap)
    instances: PMap = attrs.field(factory=pmap)

    def allocations_of(self, pool: str) -> list[Allocation]:
        """Return the allocations of one pool, in no particular order."""
        return [
            allocation
            for allocation in self.allocations.values()
            if allocation.pool == pool
        ]


def _settings(event) -> dict:
    return {
        "gateway": event.gateway,
        "dns": tuple(event.dns),
        "provider": event.provider,
        "mode": event.mode,
    }


def _pool_created(state: AddressState, event) -> AddressState:
    pool = AddressPool(event.aggregate_id, **_settings(event))
    return attrs.evolve(state, pools=state.pools.set(pool.name, pool))


def _pool_modified(state: AddressState, event) -> AddressState:
    pool = state.pools.get(event.aggregate_id)
    if pool is None:
        return state
    pool = attrs.evolve(pool, **_settings(event))
    return attrs.evolve(state, pools=state.pools.set(pool.name, pool))


def _pool_deleted(state: AddressState, event) -> AddressState:
    name = event.aggregate_id
    if name not in state.pools:
        return state
    for allocation in state.allocations_of(name):
        state = _without(state, allocation)
    return attrs.evolve(state, pools=state.pools.remove(name))


def _range_added(state: AddressState, event) -> AddressState:
    pool = state.pools.get(event.aggregate_id)
    if pool is None:
        return state
    added = AddressRange(
        event.range_type, event.start, event.end, event.netmask
    )
    ranges = pool.ranges.set((added.type, added.start), added)
    return _with_ranges(state, pool, ranges)


def _range_removed(state: AddressState, event) -> AddressState:
    pool = state.pools.get(event.aggregate_id)
    if pool is None:
        return state
    ranges = pool.ranges.discard((event.range_type, event.start))
    return _with_ranges(state, pool, ranges)


def _with_ranges(state, pool, ranges) -> AddressState:
    pool = attrs.evolve(pool, ranges=ranges)
    return attrs.evolve(state, pools=state.pools.set(pool.name, pool))


def _allocated(state: AddressState, event) -> AddressState:
    allocation = Allocation(
        event.aggregate_id, event.address, event.instance, event.task_id
    )
    return _with(state, allocation)


def _released(state: AddressState, event) -> AddressState:
    allocation = state.allocations.get(event.address)
    if allocation is None or allocation.instance != event.instance:
        return state
    return _without(state, allocation)


def _with(state: AddressState, allocation: Allocation) -> AddressState:
    """
    Add ``allocation``, replacing any other allocation of its address or
    of its instance: an instance has one address, and an address one
    instance, so that a snapshot rebuilds :attr:`AddressState.instances`
    from the allocations alone.
    """
    previous = state.allocations.get(allocation.address)
    if previous is not None:
        state = _without(state, previous)
    address = state.instances.get(allocation.instance)
    if address is not None:
        state = _without(state, state.allocations[address])
    return attrs.evolve(
        state,
        allocations=state.allocations.set(allocation.address, allocation),
        instances=state.instances.set(allocation.instance, allocation.address),
    )


def _without(state: AddressState, allocation: Allocation) -> AddressState:
    instances = state.instances
    if instances.get(allocation.instance) == allocation.address:
        instances = instances.remove(allocation.instance)
    return attrs.evolve(
        state,
        allocations=state.allocations.discard(allocation.address),
        instances=instances,
    )


#: The change each address event makes, ``fold(state, event) -> state``.
ADDRESS_FOLDS = {
    AddressPoolCreated: _pool_created,
    AddressPoolModified: _pool_modified,
    AddressPoolDeleted: _pool_deleted,
    AddressRangeAdded: _range_added,
    AddressRangeRemoved: _range_removed,
    AddressAllocated: _allocated,
    AddressReleased: _released,
}


def addresses_to_json(state: AddressState) -> dict:
    """Return the address state as a JSON object, for a snapshot."""
    return {
        "pools": {
            name: {
                "gateway": pool.gateway,
                "dns": list(pool.dns),
                "provider": pool.provider,
                "mode": pool.mode,
                "ranges": [
                    attrs.asdict(address_range)
                    for address_range in pool.ranges.values()
                ],
            }
            for name, pool in state.pools.items()
        },
        "allocations": [
            attrs.asdict(allocation)
            for allocation in state.allocations.values()
        ],
    }


def addresses_from_json(data) -> AddressState:
    """
    Return the address state that :func:`addresses_to_json` wrote,
    checking every field, because snapshots come from disk.

    :raises SnapshotFormatError: ``data`` has another shape.
    """
    pools = _object(data, "addresses")
    state = AddressState()
    for name, fields in _object(pools.get("pools"), "pools").items():
        state = _pool_from_json(state, name, _object(fields, f"pool {name}"))
    for fields in _list(data.get("allocations"), "allocations"):
        allocation = Allocation(
            **_fields(fields, _ALLOCATION_TYPES, "allocation")
        )
        state = _with(state, allocation)
    return state


_STR = (str,)
_POOL_TYPES = {"gateway": _STR, "dns": (list,), "provider": _STR}
_POOL_TYPES.update({"mode": _STR, "ranges": (list,)})
_RANGE_TYPES = dict.fromkeys(["type", "start", "end", "netmask"], _STR)
_ALLOCATION_TYPES = {
    **dict.fromkeys(["pool", "address", "instance"], _STR),
    "task_id": (str, type(None)),
}


def _pool_from_json(state, name, fields) -> AddressState:
    fields = _fields(fields, _POOL_TYPES, f"pool {name!r}")
    if not all(isinstance(server, str) for server in fields["dns"]):
        raise _invalid(f"pool {name!r} has dns {fields['dns']!r}")
    ranges = {}
    for range_fields in fields["ranges"]:
        checked = _fields(range_fields, _RANGE_TYPES, f"range of {name!r}")
        address_range = AddressRange(**checked)
        ranges[(address_range.type, address_range.start)] = address_range
    pool = AddressPool(
        name,
        fields["gateway"],
        tuple(fields["dns"]),
        fields["provider"],
        fields["mode"],
        pmap(ranges),
    )
    return attrs.evolve(state, pools=state.pools.set(name, pool))


def _fields(fields, types: Mapping, entry: str) -> dict:
    """Return ``fields`` once each has one of its ``types``, and no
    other field is present."""
    if not isinstance(fields, Mapping) or set(fields) != set(types):
        raise _invalid(f"{entry} must have the fields {sorted(types)}")
    for name, allowed in types.items():
        if not isinstance(fields[name], allowed):
            raise _invalid(f"{entry} has {name} {fields[name]!r}")
    return dict(fields)


def _object(value, what: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise _invalid(f"{what} must be an object, not {value!r}")
    return value


def _list(value, what: str) -> list:
    if not isinstance(value, list):
        raise _invalid(f"{what} must be a list, not {value!r}")
    return value


def _invalid(problem: str) -> SnapshotFormatError:
    return SnapshotFormatError(f"invalid core snapshot addresses: {problem}")
