"""
Core's address allocation: one address of an address pool per
instance, recorded in Core's journal before it is returned to anyone.

Every change to address pools and allocations runs under one
:class:`~twisted.internet.defer.DeferredLock`: the check (is the
address free, is the range unused) and the append of the event happen
with no other change in between, so two concurrent creates never get
the same address. After a restart the allocations come from the
journal, like the rest of Core's state.
"""

from ipaddress import IPv4Address

from twisted.internet.defer import Deferred, DeferredLock, succeed

from nano.events import utc_time
from nano.events.addresses import AddressAllocated, AddressReleased

from ._address_ranges import IPv4Range, address_number, next_free
from ._logging import core_logger


class AddressError(Exception):
    """An address cannot be allocated, and the message states why and
    what to do."""


class Addresses:
    """
    Allocate and release the addresses of Core's address pools.

    :param live: Core's :class:`~nano.projections.LiveProjection`, whose
        state has the address pools in ``addresses``.
    :param clock: an ``IReactorTime``, for event times.
    """

    log = core_logger()

    def __init__(self, live, clock):
        self.live = live
        self.clock = clock
        self._lock = DeferredLock()

    @property
    def state(self):
        """The :class:`~nano.projections.addresses.AddressState`."""
        return self.live.current.state.addresses

    def run(self, function, *args, **kwargs) -> Deferred:
        """
        Call ``function(*args, **kwargs)`` once no other address change
        runs, and hold off the others until the Deferred it returns
        fires.

        Use it to check a change against :attr:`state` and record it.
        """
        return self._lock.run(function, *args, **kwargs)

    def allocate(self, pool: str, instance: str, task_id) -> Deferred:
        """
        Allocate the lowest free address of ``pool`` to ``instance``,
        from the ranges of the pool's mode.

        An instance that has an address keeps it, so a repeated call
        allocates nothing more.

        :return: a Deferred that fires with :meth:`network` of the
            instance once ``AddressAllocated`` is on disk, or fails with
            :class:`AddressError`.
        """
        return self.run(self._allocate, pool, instance, task_id)

    def _allocate(self, pool_name, instance, task_id):
        if instance in self.state.instances:
            return self.network(instance)
        pool = self.state.pools.get(pool_name)
        if pool is None:
            raise AddressError(
                f"address pool {pool_name!r} not found; create it, or set "
                "the compute pool's network to an existing address pool"
            )
        address = self._choose(pool)
        event = AddressAllocated(
            aggregate_id=pool_name,
            time=utc_time(self.clock.seconds()),
            task_id=task_id,
            address=str(address),
            instance=instance,
        )
        recorded = self.live.record(event)
        recorded.addCallback(lambda _: self._allocated(event))
        return recorded

    def check_free(self, pool_name: str) -> None:
        """
        Check that ``pool_name`` has a free address now, so that a guest
        creation is rejected at once rather than rolled back later.

        :raises AddressError: the pool is missing or full.
        """
        pool = self.state.pools.get(pool_name)
        if pool is None:
            raise AddressError(
                f"address pool {pool_name!r} not found; create it, or set "
                "the compute pool's network to an existing address pool"
            )
        self._choose(pool)

    def _choose(self, pool) -> IPv4Address:
        ranges = [
            IPv4Range.parse(each.start, each.end, each.netmask)
            for each in pool.ranges_of(pool.mode)
        ]
        taken = set(map(address_number, self.state.allocations))
        found = next_free(ranges, IPv4Address(pool.gateway), taken)
        if found is None:
            raise AddressError(
                f"address pool {pool.name!r} has no free address in its "
                f"{pool.mode} ranges; add a range with POST /api/v1/"
                f"address_pools/{pool.name}/{pool.mode}/ranges/<start>"
            )
        return found[0]

    def _allocated(self, event) -> dict:
        self.log.info(
            "Allocated {address} of address pool {pool} to instance "
            "{instance}",
            address=event.address,
            pool=event.aggregate_id,
            instance=event.instance,
        )
        return self.network(event.instance)

    def release(self, instance: str, task_id) -> Deferred:
        """
        Give the address of ``instance`` back to its pool.

        :return: a Deferred that fires with ``None`` once
            ``AddressReleased`` is on disk, at once if the instance has
            no address.
        """
        return self.run(self._release, instance, task_id)

    def _release(self, instance, task_id):
        address = self.state.instances.get(instance)
        if address is None:
            return succeed(None)
        allocation = self.state.allocations[address]
        event = AddressReleased(
            aggregate_id=allocation.pool,
            time=utc_time(self.clock.seconds()),
            task_id=task_id,
            address=address,
            instance=instance,
        )
        recorded = self.live.record(event)
        return recorded.addCallback(lambda _: self._released(event))

    def _released(self, event) -> None:
        self.log.info(
            "Released {address} of address pool {pool} from instance "
            "{instance}",
            address=event.address,
            pool=event.aggregate_id,
            instance=event.instance,
        )

    def network(self, instance: str) -> dict | None:
        """
        Return the network settings of ``instance``, as Cells get them in
        a create request, or ``None`` if it has no address::

            {"address": "10.213.7.10", "prefix": 24,
             "gateway": "10.213.7.1", "dns": ["10.213.7.1"],
             "provider": "dhcp"}
        """
        address = self.state.instances.get(instance)
        if address is None:
            return None
        allocation = self.state.allocations[address]
        pool = self.state.pools[allocation.pool]
        return {
            "address": address,
            "prefix": _prefix(pool, IPv4Address(address)),
            "gateway": pool.gateway,
            "dns": list(pool.dns),
            "provider": pool.provider,
        }


def _prefix(pool, address: IPv4Address) -> int:
    """Return the prefix length of the pool's range that has ``address``."""
    for each in pool.ranges.values():
        address_range = IPv4Range.parse(each.start, each.end, each.netmask)
        if address in address_range:
            return address_range.prefix
    # NOTE: /24 is a guess, for an address whose range was removed after
    # its allocation; the API rejects removing a range with allocations.
    return 24
