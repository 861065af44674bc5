"""
Core's domain events: compute pools, their Cells and system templates.

Core's journal is read through :data:`CORE_EVENTS`. A compute pool's
aggregate id is its name, a Cell's is its node name, and a system
template's is its id. A
``...Modified`` event carries every setting after the change, not only
the changed ones, so that replaying it needs no earlier event.
"""

import attrs

from ._event import Event, require_bool, require_optional_str, require_str
from ._registry import EventRegistry

CORE_EVENTS = EventRegistry()


@CORE_EVENTS.event("ComputePoolCreated")
class ComputePoolCreated(Event):
    """
    A compute pool was created.

    :ivar storage: the name of its shared storage pool, or ``None`` for
        the Cells' local disks.
    :ivar network: the name of its address pool, or ``None`` when
        instances get no managed addresses.
    :ivar failover: whether instances of a lost Cell move to other Cells
        (needs shared storage).
    """

    storage: str | None = attrs.field(
        default=None, validator=require_optional_str
    )
    network: str | None = attrs.field(
        default=None, validator=require_optional_str
    )
    failover: bool = attrs.field(default=False, validator=require_bool)
    enabled: bool = attrs.field(default=True, validator=require_bool)


@CORE_EVENTS.event("ComputePoolModified")
class ComputePoolModified(Event):
    """
    A compute pool's settings changed, and the fields are its new ones.

    A disabled pool gets no new instances.
    """

    storage: str | None = attrs.field(validator=require_optional_str)
    network: str | None = attrs.field(validator=require_optional_str)
    failover: bool = attrs.field(validator=require_bool)
    enabled: bool = attrs.field(validator=require_bool)


@CORE_EVENTS.event("ComputePoolDeleted")
class ComputePoolDeleted(Event):
    """A compute pool was deleted."""


@attrs.frozen(kw_only=True)
class _SystemTemplateSettings(Event):
    """
    The device set of a system template, shared by its events.

    :ivar name: the name shown to users, such as ``CentOS 7``.
    :ivar admin: the name of the guest's administrator account.
    :ivar operating_system: ``linux`` or ``windows``.
    :ivar disk: the disk bus (``scsi``, ``sata``, ``ide``, ...).
    :ivar network: the NIC model (``virtio``, ``e1000``, ``rtl8139``).
    :ivar display: the video device (``vga``, ``cirrus``, ``virtio``,
        ``qxl`` or ``none``).
    :ivar control: the remote console protocol (``vnc`` or ``spice``).
    :ivar usb: the USB controller model, or ``none``.
    :ivar tablet: the tablet input bus (``usb``, ``virtio`` or ``none``).
    """

    name: str = attrs.field(validator=require_str)
    admin: str = attrs.field(validator=require_str)
    operating_system: str = attrs.field(validator=require_str)
    disk: str = attrs.field(validator=require_str)
    network: str = attrs.field(validator=require_str)
    display: str = attrs.field(validator=require_str)
    control: str = attrs.field(validator=require_str)
    usb: str = attrs.field(validator=require_str)
    tablet: str = attrs.field(validator=require_str)


@CORE_EVENTS.event("SystemTemplateCreated")
class SystemTemplateCreated(_SystemTemplateSettings):
    """A system template was created: an OS name mapped to a device set."""


@CORE_EVENTS.event("SystemTemplateModified")
class SystemTemplateModified(_SystemTemplateSettings):
    """A system template changed, and the fields are its new settings."""


@CORE_EVENTS.event("SystemTemplateDeleted")
class SystemTemplateDeleted(Event):
    """A system template was deleted."""


@CORE_EVENTS.event("CellAdded")
class CellAdded(Event):
    """
    A Cell joined a compute pool; it starts enabled.

    :ivar pool: the name of the compute pool.
    """

    pool: str = attrs.field(validator=require_str)


@CORE_EVENTS.event("CellRemoved")
class CellRemoved(Event):
    """
    A Cell left its compute pool.

    :ivar pool: the name of the compute pool it left.
    """

    pool: str = attrs.field(validator=require_str)


@CORE_EVENTS.event("CellEnabled")
class CellEnabled(Event):
    """A Cell of a pool was enabled: it gets new instances again."""


@CORE_EVENTS.event("CellDisabled")
class CellDisabled(Event):
    """
    A Cell of a pool was disabled: the scheduler places no new instances
    on it, and its instances keep running.
    """
