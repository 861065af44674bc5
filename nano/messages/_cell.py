"""
A Cell's reports and events to Core, and Core's request when a Cell
joins a pool.
"""

from nano.fabric import Message

from ._fields import (
    count,
    field,
    fraction,
    names,
    objects,
    optional_text,
    text,
)
from ._registry import NANO_MESSAGES

#: The states an instance has in messages: ``creating`` while its
#: volumes and domain are made, ``deleting`` while they are removed, and
#: ``lost`` when the Cell's journal has it but libvirt does not.
INSTANCE_STATES = (
    "creating",
    "stopped",
    "running",
    "paused",
    "crashed",
    "deleting",
    "lost",
)


@NANO_MESSAGES.message("CellStatusReport")
class CellStatusReport(Message):
    """
    A Cell's capacity and load, sent every 2 seconds.

    Core keeps the latest report in memory and never journals it.

    :ivar cell: the Cell's node name.
    :ivar cores: logical CPUs of the host.
    :ivar cpu_load: the share of all cores busy since the last report,
        0 to 1.
    :ivar memory: installed memory, bytes.
    :ivar memory_available: free memory, bytes.
    :ivar disk: size of the volume file system, bytes.
    :ivar disk_available: free space for volumes, bytes.
    :ivar instances: instances the Cell holds.
    :ivar running: of those, running.
    :ivar stopped: of those, stopped.
    :ivar other: of those, in any other state (creating, lost...).
    :ivar instance_limit: the most instances the Cell accepts.
    """

    cell: str = field(text)
    cores: int = field(count)
    cpu_load: float = field(fraction)
    memory: int = field(count)
    memory_available: int = field(count)
    disk: int = field(count)
    disk_available: int = field(count)
    instances: int = field(count)
    running: int = field(count)
    stopped: int = field(count)
    other: int = field(count, default=0)
    instance_limit: int = field(count, default=0)


@NANO_MESSAGES.message("ComputeCellReady")
class ComputeCellReady(Message):
    """
    Every instance a Cell holds, sent when it connects to Core and as
    the reply to ``ComputePoolReady``, so that Core can rebuild its view.

    :ivar pool: the pool Core last named for the Cell, or null.
    :ivar instances: instance descriptions, as in
        ``CreateInstanceResponse``.
    :ivar unknown_domains: names of libvirt domains that look like Nano
        instances but are not in the Cell's journal; the Cell leaves them
        alone.
    """

    cell: str = field(text)
    instances: list = field(objects)
    pool: str | None = field(optional_text, default=None)
    unknown_domains: list = field(names, factory=list)


@NANO_MESSAGES.message("ComputePoolReady")
class ComputePoolReady(Message):
    """
    Core's request telling a Cell which compute pool it belongs to; the
    reply is ``ComputeCellReady``.

    :ivar storage: the pool's shared storage pool, or null for the
        Cell's local disk (the only kind this Cell supports yet).
    :ivar network: the pool's address pool, or null.
    """

    pool: str = field(text)
    storage: str | None = field(optional_text, default=None)
    network: str | None = field(optional_text, default=None)


@NANO_MESSAGES.message("InstanceStarted")
class InstanceStarted(Message):
    """An instance's domain started (by request, or on its own)."""

    cell: str = field(text)
    instance_id: str = field(text)


@NANO_MESSAGES.message("InstanceStopped")
class InstanceStopped(Message):
    """
    An instance's domain stopped.

    :ivar reason: ``shutdown`` (from inside the guest, or by ACPI),
        ``destroyed`` (forced, by Nano or by ``virsh destroy``),
        ``crashed``, or another libvirt stop reason.
    """

    cell: str = field(text)
    instance_id: str = field(text)
    reason: str = field(text)


@NANO_MESSAGES.message("InstanceDeleted")
class InstanceDeleted(Message):
    """An instance and its volumes are gone from the Cell."""

    cell: str = field(text)
    instance_id: str = field(text)
    task_id: str | None = field(optional_text, default=None)
