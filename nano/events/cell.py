"""
A Cell's own events: the instances it hosts, their volumes, their
power state and the media in their CD-ROM drives.

A Cell's journal is read through :data:`CELL_EVENTS`. Every event's
aggregate id is the instance id. Creation and deletion are journalled
before libvirt or the disk is touched (``InstanceCreating``,
``InstanceDeleting``), so that a Cell restarted in the middle can find what
to roll back or finish.
"""

from collections.abc import Mapping

import attrs
from pyrsistent import freeze

from ._event import (
    Event,
    require_optional_str,
    require_size,
    require_sizes,
    require_str,
)
from ._registry import EventRegistry

CELL_EVENTS = EventRegistry()


def _require_optional_mapping(instance, attribute, value):
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(
            f"invalid {attribute.name} {value!r}: must be an object or None"
        )


@CELL_EVENTS.event("InstanceCreating")
class InstanceCreating(Event):
    """
    The Cell accepted an instance and is about to create its volumes and
    domain.

    :ivar memory: bytes.
    :ivar disks: volume sizes in bytes, the system volume first.
    :ivar disk_bus: ... to ``tablet``: the device set, named as in
        :class:`nano.cell.libvirt.DeviceSet`.
    :ivar mac: the NIC's MAC address, or ``None`` for no NIC.
    :ivar image: the image the system volume is an overlay of, or
        ``None``.
    :ivar network: the instance's address settings from Core (``address``,
        ``prefix``, ``gateway``, ``dns``, ``provider``), or ``None``;
        absent from events written before it existed.
    """

    name: str = attrs.field(validator=require_str)
    cores: int = attrs.field(validator=require_size)
    memory: int = attrs.field(validator=require_size)
    disks: tuple = attrs.field(converter=tuple, validator=require_sizes)
    disk_bus: str = attrs.field(validator=require_str)
    nic_model: str = attrs.field(validator=require_str)
    display: str = attrs.field(validator=require_str)
    control: str = attrs.field(validator=require_str)
    usb: str = attrs.field(validator=require_str)
    tablet: str = attrs.field(validator=require_str)
    mac: str | None = attrs.field(validator=require_optional_str)
    image: str | None = attrs.field(validator=require_optional_str)
    network: Mapping | None = attrs.field(
        default=None, converter=freeze, validator=_require_optional_mapping
    )


@CELL_EVENTS.event("VolumeCreated")
class VolumeCreated(Event):
    """One of an instance's volumes was created, ``size`` bytes."""

    volume: str = attrs.field(validator=require_str)
    size: int = attrs.field(validator=require_size)


@CELL_EVENTS.event("VolumeDeleted")
class VolumeDeleted(Event):
    """One of an instance's volumes was deleted."""

    volume: str = attrs.field(validator=require_str)


@CELL_EVENTS.event("InstanceCreated")
class InstanceCreated(Event):
    """The instance's volumes exist and its domain is defined, stopped."""

    domain: str = attrs.field(validator=require_str)


@CELL_EVENTS.event("InstanceCreateFailed")
class InstanceCreateFailed(Event):
    """
    Creating the instance failed, and what was made of it was removed.

    :ivar error: what failed, for operators.
    """

    error: str = attrs.field(validator=require_str)


@CELL_EVENTS.event("InstanceStarted")
class InstanceStarted(Event):
    """The instance's domain is running."""


@CELL_EVENTS.event("InstanceStopped")
class InstanceStopped(Event):
    """
    The instance's domain stopped.

    :ivar reason: libvirt's reason, such as ``shutdown``, ``destroyed``
        or ``crashed``; ``unknown`` when found stopped after a restart.
    """

    reason: str = attrs.field(validator=require_str)


@CELL_EVENTS.event("InstanceLost")
class InstanceLost(Event):
    """
    The journal has the instance but libvirt has no domain for it, as
    found on start-up or when the domain was undefined outside Nano.
    """

    reason: str = attrs.field(validator=require_str)


@CELL_EVENTS.event("InstanceDeleting")
class InstanceDeleting(Event):
    """The Cell is about to stop and remove the instance."""


@CELL_EVENTS.event("InstanceDeleteFailed")
class InstanceDeleteFailed(Event):
    """
    Deleting the instance failed part way; a new delete finishes it.

    :ivar state: the instance's state after the failure, such as
        ``running`` when its domain could not be stopped.
    """

    error: str = attrs.field(validator=require_str)
    state: str = attrs.field(validator=require_str)


@CELL_EVENTS.event("InstanceDeleted")
class InstanceDeleted(Event):
    """The instance's domain and volumes are gone."""


@CELL_EVENTS.event("MediaInserted")
class MediaInserted(Event):
    """
    A media image is in the instance's CD-ROM drive, replacing what was
    there; journalled before libvirt is changed.

    :ivar path: the ISO file in the Cell's image cache.
    :ivar image: the media image's id on Core.
    """

    path: str = attrs.field(validator=require_str)
    image: str = attrs.field(validator=require_str)


@CELL_EVENTS.event("MediaEjected")
class MediaEjected(Event):
    """The instance's CD-ROM drive is empty."""
