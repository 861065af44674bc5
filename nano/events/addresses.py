"""
Core's address pool events: pools, their ranges of IPv4 addresses, and
the allocation of one address to each instance.

They are part of Core's journal (:data:`~nano.events.core.CORE_EVENTS`).
Every event's aggregate id is the address pool's name. Addresses are
dotted-quad strings, such as ``10.213.7.10``. A ``...Modified`` event
carries every setting after the change, so that replaying it needs no
earlier event.
"""

import attrs

from ._event import Event, require_str
from .core import CORE_EVENTS

#: The address providers: the Cell's DHCP server, or a static
#: configuration in the instance's cloud-init data.
PROVIDERS = ("dhcp", "cloudinit")
#: The range types that Core can allocate from, one per pool.
MODES = ("internal", "external")
#: The kinds of range, as in the Nano v1 routes.
RANGE_TYPES = ("internal", "external")


def _require_strings(instance, attribute, value) -> None:
    if not all(isinstance(item, str) for item in value):
        raise TypeError(
            f"invalid {attribute.name} {value!r}: must be a list of strings"
        )


@attrs.frozen(kw_only=True)
class _AddressPoolSettings(Event):
    """
    The settings of an address pool, shared by its events.

    :ivar gateway: the default gateway of its instances.
    :ivar dns: the DNS servers of its instances, in order.
    :ivar provider: one of :data:`PROVIDERS`.
    :ivar mode: one of :data:`MODES`.
    """

    gateway: str = attrs.field(validator=require_str)
    dns: tuple[str, ...] = attrs.field(
        converter=tuple, validator=_require_strings
    )
    provider: str = attrs.field(validator=require_str)
    mode: str = attrs.field(validator=require_str)


@CORE_EVENTS.event("AddressPoolCreated")
class AddressPoolCreated(_AddressPoolSettings):
    """An address pool was created, with no ranges."""


@CORE_EVENTS.event("AddressPoolModified")
class AddressPoolModified(_AddressPoolSettings):
    """An address pool's settings changed, and the fields are its new
    ones."""


@CORE_EVENTS.event("AddressPoolDeleted")
class AddressPoolDeleted(Event):
    """An address pool was deleted, with its ranges."""


@CORE_EVENTS.event("AddressRangeAdded")
class AddressRangeAdded(Event):
    """
    A range of addresses, ``start`` to ``end`` inclusive, was added to a
    pool.

    :ivar range_type: one of :data:`RANGE_TYPES`.
    :ivar netmask: the netmask of the range's network, dotted-quad.
    """

    range_type: str = attrs.field(validator=require_str)
    start: str = attrs.field(validator=require_str)
    end: str = attrs.field(validator=require_str)
    netmask: str = attrs.field(validator=require_str)


@CORE_EVENTS.event("AddressRangeRemoved")
class AddressRangeRemoved(Event):
    """The range of a pool that begins at ``start`` was removed."""

    range_type: str = attrs.field(validator=require_str)
    start: str = attrs.field(validator=require_str)


@CORE_EVENTS.event("AddressAllocated")
class AddressAllocated(Event):
    """
    Core gave ``address`` of the pool to an instance; ``task_id`` is the
    task that created the instance.

    :ivar instance: the instance (guest) id.
    """

    address: str = attrs.field(validator=require_str)
    instance: str = attrs.field(validator=require_str)


@CORE_EVENTS.event("AddressReleased")
class AddressReleased(Event):
    """An instance's address went back to its pool."""

    address: str = attrs.field(validator=require_str)
    instance: str = attrs.field(validator=require_str)
