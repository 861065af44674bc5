"""
Address pool routes: ``/api/v1/address_pools/`` and their ranges.

A pool has a gateway, DNS servers, a provider and a mode. With provider
``dhcp`` the Cell's DHCP server hands out the address, and with
``cloudinit`` the address is written into the instance's cloud-init
data. The mode is the type of range that Core allocates from
(``internal`` or ``external``). Ranges
are checked with :mod:`nano.core._address_ranges`: the gateway lies in
each range's network, and no two ranges of any pools share an address.
Every change runs under the lock of :class:`~nano.core._addresses.
Addresses`, so that checks and allocations see each other's results.
"""

from ipaddress import IPv4Address

from nano.events.addresses import (
    MODES,
    PROVIDERS,
    RANGE_TYPES,
    AddressPoolCreated,
    AddressPoolDeleted,
    AddressPoolModified,
    AddressRangeAdded,
    AddressRangeRemoved,
)

from .._address_ranges import (
    IPv4Range,
    RangeError,
    check_gateway,
    first_overlap,
    parse_address,
    parse_host_address,
)
from ._envelope import bad_request, conflict, not_found
from ._fields import check_keys, check_name, choice, parse_object

POOL_FIELDS = ("gateway", "dns", "provider", "mode")
RANGE_FIELDS = ("end", "netmask")
MAX_DNS = 8


def address_pool_routes(api, addresses):
    """
    Return the address pool routes of ``api`` (a CoreAPI), changing
    pools through ``addresses`` (an :class:`~nano.core._addresses.
    Addresses`).
    """
    routes = AddressPoolRoutes(api, addresses)
    pool = "/address_pools/<pool>"
    ranges = pool + "/<range_type>/ranges/"
    return [
        ("GET", "/address_pools/", routes.list),
        ("GET", pool, routes.get),
        ("POST", pool, routes.create),
        ("PUT", pool, routes.modify),
        ("DELETE", pool, routes.delete),
        ("GET", ranges, routes.list_ranges),
        ("GET", ranges + "<start>", routes.get_range),
        ("POST", ranges + "<start>", routes.add_range),
        ("DELETE", ranges + "<start>", routes.remove_range),
    ]


def range_json(address_range, gateway: str) -> dict:
    """Return a range as Nano 1.x clients read it, with its capacity."""
    parsed = _parsed(address_range)
    return {
        "start": address_range.start,
        "end": address_range.end,
        "netmask": address_range.netmask,
        "capacity": parsed.capacity(IPv4Address(gateway)),
    }


def allocated_json(allocations) -> list[dict]:
    """Return allocations as ``[{address, instance}]``, by address."""
    ordered = sorted(allocations, key=lambda each: IPv4Address(each.address))
    return [
        {"address": each.address, "instance": each.instance}
        for each in ordered
    ]


class AddressPoolRoutes:
    """The handlers of the address pool routes."""

    def __init__(self, api, addresses):
        self.api = api
        self.addresses = addresses

    # Pools.

    def list(self, body):
        """Return every pool with its capacity and allocation count."""
        state = self.addresses.state
        counts = {}
        for allocation in state.allocations.values():
            counts[allocation.pool] = counts.get(allocation.pool, 0) + 1
        return [
            {
                **_settings_json(state.pools[name]),
                "addresses": _capacity(state.pools[name]),
                "allocated": counts.get(name, 0),
            }
            for name in sorted(state.pools)
        ]

    def get(self, body, pool):
        """Return a pool with its ranges and allocations."""
        found = self._existing(pool)
        ranges = [
            {**range_json(each, found.gateway), "type": range_type}
            for range_type in RANGE_TYPES
            for each in found.ranges_of(range_type)
        ]
        return {
            **_settings_json(found),
            "ranges": ranges,
            "allocated": allocated_json(
                self.addresses.state.allocations_of(pool)
            ),
        }

    def create(self, body, pool):
        """Create a pool with no ranges. Only ``gateway`` is required."""
        check_name("address pool", pool)
        fields = parse_object(body)
        check_keys(fields, POOL_FIELDS, ("gateway",))
        defaults = {"dns": (), "provider": "dhcp", "mode": "internal"}
        settings = _pool_settings(fields, defaults)
        return self.addresses.run(self._create, pool, settings)

    def _create(self, pool, settings):
        if pool in self.addresses.state.pools:
            raise conflict(f"address pool {pool!r} already exists")
        event = AddressPoolCreated(
            aggregate_id=pool, time=self.api.now(), **settings
        )
        return self._record(pool, event)

    def modify(self, body, pool):
        """Change a pool's settings; fields left out keep their value."""
        fields = parse_object(body)
        check_keys(fields, POOL_FIELDS)
        return self.addresses.run(self._modify, pool, fields)

    def _modify(self, pool, fields):
        current = self._existing(pool)
        defaults = {
            "gateway": current.gateway,
            "dns": current.dns,
            "provider": current.provider,
            "mode": current.mode,
        }
        settings = _pool_settings(fields, defaults)
        self._check_new_gateway(current, settings["gateway"])
        # TODO: Core sends this change to no Cell, so instances that
        # already have an address keep the old gateway, DNS servers and
        # provider. They get the new ones when created again.
        event = AddressPoolModified(
            aggregate_id=pool, time=self.api.now(), **settings
        )
        return self._record(pool, event)

    def _check_new_gateway(self, pool, gateway: str) -> None:
        ranges = [_parsed(each) for each in pool.ranges.values()]
        _check_gateway(IPv4Address(gateway), ranges)
        allocation = self.addresses.state.allocations.get(gateway)
        if allocation is not None:
            raise conflict(
                f"invalid gateway {gateway}: it is allocated to instance "
                f"{allocation.instance}; choose another gateway, or "
                "delete that guest first"
            )

    def delete(self, body, pool):
        """Delete a pool that no compute pool uses and that has no
        allocations, together with its ranges."""
        return self.addresses.run(self._delete, pool)

    def _delete(self, pool):
        self._existing(pool)
        users = sorted(
            each.name
            for each in self.api.state.pools.values()
            if each.network == pool
        )
        if users:
            raise conflict(
                f"address pool {pool!r} is the network of compute pools "
                f"{', '.join(users)}; set their network to another pool or "
                'to "" with PUT /api/v1/compute_pools/<pool> first'
            )
        self._check_unallocated(
            f"address pool {pool!r}",
            self.addresses.state.allocations_of(pool),
        )
        event = AddressPoolDeleted(aggregate_id=pool, time=self.api.now())
        return self._record(pool, event)

    # Ranges.

    def list_ranges(self, body, pool, range_type):
        """Return the ranges of one type, by start address."""
        _check_type(range_type)
        found = self._existing(pool)
        return [
            range_json(each, found.gateway)
            for each in found.ranges_of(range_type)
        ]

    def get_range(self, body, pool, range_type, start):
        """Return a range with its allocations."""
        found, address_range = self._existing_range(pool, range_type, start)
        return {
            **range_json(address_range, found.gateway),
            "allocated": allocated_json(
                self._allocations_in(pool, address_range)
            ),
        }

    def add_range(self, body, pool, range_type, start):
        """Add a range ``start`` to ``end`` with the ``netmask``."""
        _check_type(range_type)
        fields = parse_object(body)
        check_keys(fields, RANGE_FIELDS, RANGE_FIELDS)
        try:
            new = IPv4Range.parse(start, fields["end"], fields["netmask"])
            new.check_unicast()
        except RangeError as error:
            raise bad_request(str(error)) from None
        return self.addresses.run(
            self._add_range, pool, new, range_type=range_type, **fields
        )

    def _add_range(self, name, new: IPv4Range, **fields):
        pool = self._existing(name)
        event = AddressRangeAdded(
            aggregate_id=name,
            time=self.api.now(),
            start=str(new.start),
            **fields,
        )
        _check_gateway(IPv4Address(pool.gateway), [new])
        others = (
            ((name, each), _parsed(each))
            for name, other in self.addresses.state.pools.items()
            for each in other.ranges.values()
        )
        overlap = first_overlap(new, others)
        if overlap is not None:
            name, other = overlap
            raise conflict(
                f"range {event.start}-{event.end} overlaps the {other.type} "
                f"range {other.start}-{other.end} of address pool "
                f"{name!r}; choose addresses outside it, or remove that "
                "range first"
            )
        return self._record(pool.name, event)

    def remove_range(self, body, pool, range_type, start):
        """Remove a range that has no allocations."""
        return self.addresses.run(self._remove_range, pool, range_type, start)

    def _remove_range(self, pool, range_type, start):
        _, address_range = self._existing_range(pool, range_type, start)
        self._check_unallocated(
            f"range {start}-{address_range.end}",
            self._allocations_in(pool, address_range),
        )
        event = AddressRangeRemoved(
            aggregate_id=pool,
            time=self.api.now(),
            range_type=range_type,
            start=start,
        )
        return self._record(pool, event)

    # Helpers.

    def _existing(self, name):
        pool = self.addresses.state.pools.get(name)
        if pool is None:
            raise not_found(
                f"address pool {name!r} not found; list them with "
                "GET /api/v1/address_pools/"
            )
        return pool

    def _existing_range(self, pool, range_type, start):
        _check_type(range_type)
        found = self._existing(pool)
        address_range = found.ranges.get((range_type, start))
        if address_range is None:
            raise not_found(
                f"address pool {pool!r} has no {range_type} range starting "
                f"at {start!r}; list them with GET /api/v1/address_pools/"
                f"{pool}/{range_type}/ranges/"
            )
        return found, address_range

    def _allocations_in(self, pool, address_range) -> list:
        parsed = _parsed(address_range)
        return [
            each
            for each in self.addresses.state.allocations_of(pool)
            if IPv4Address(each.address) in parsed
        ]

    def _check_unallocated(self, what: str, allocations) -> None:
        if not allocations:
            return
        instances = sorted(each.instance for each in allocations)
        shown = ", ".join(instances[:5])
        more = "" if len(instances) <= 5 else f" and {len(instances) - 5} more"
        raise conflict(
            f"{what} has {len(instances)} allocated addresses (instances "
            f"{shown}{more}); delete those guests first"
        )

    def _record(self, pool, event):
        recorded = self.api.record([f"address pool {pool!r}"], event)
        return recorded.addCallback(lambda _: "")


def _settings_json(pool) -> dict:
    return {
        "name": pool.name,
        "gateway": pool.gateway,
        "dns": list(pool.dns),
        "provider": pool.provider,
        "mode": pool.mode,
    }


def _capacity(pool) -> int:
    """Return how many addresses of the pool's mode can be allocated."""
    gateway = IPv4Address(pool.gateway)
    return sum(
        _parsed(each).capacity(gateway) for each in pool.ranges_of(pool.mode)
    )


def _parsed(address_range) -> IPv4Range:
    return IPv4Range.parse(
        address_range.start, address_range.end, address_range.netmask
    )


def _pool_settings(fields, defaults) -> dict:
    """
    Return the pool's settings: the request's values, else ``defaults``.

    :raises ApiError: 400, naming the invalid field.
    """
    settings = dict(defaults)
    if "gateway" in fields:
        settings["gateway"] = str(_host_address(fields["gateway"]))
    if "dns" in fields:
        settings["dns"] = _dns(fields["dns"])
    if "provider" in fields:
        settings["provider"] = choice(fields, "provider", PROVIDERS)
    if "mode" in fields:
        if fields["mode"] == "both":
            raise bad_request(
                "invalid mode 'both': an instance gets one address, so "
                "the mode must be internal or external"
            )
        settings["mode"] = choice(fields, "mode", MODES)
    return settings


def _dns(value) -> tuple:
    if not isinstance(value, list) or len(value) > MAX_DNS:
        raise bad_request(
            f"invalid dns {value!r}: must be a list of at most {MAX_DNS} "
            "IPv4 addresses"
        )
    return tuple(str(_address("dns", server)) for server in value)


def _address(field: str, value) -> IPv4Address:
    try:
        return parse_address(field, value)
    except RangeError as error:
        raise bad_request(str(error)) from None


def _host_address(value) -> IPv4Address:
    try:
        return parse_host_address("gateway", value)
    except RangeError as error:
        raise bad_request(str(error)) from None


def _check_gateway(gateway: IPv4Address, ranges) -> None:
    try:
        check_gateway(gateway, ranges)
    except RangeError as error:
        raise bad_request(str(error)) from None


def _check_type(range_type: str) -> None:
    if range_type not in RANGE_TYPES:
        raise bad_request(
            f"invalid range type {range_type!r}: must be internal or external"
        )
