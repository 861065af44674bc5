"""
Core's guest events: the create saga of each guest, the changes to
its name, cores, memory and autostart, and its deletion.

They are part of Core's journal (:data:`~nano.events.core.CORE_EVENTS`).
Every event's aggregate id is the guest id, which is also the instance
id on its Cell; ``task_id`` is the id of the saga that caused it.
"""

import attrs

from ._event import (
    Event,
    require_bool,
    require_optional_str,
    require_size,
    require_sizes,
    require_str,
)
from .core import CORE_EVENTS


@CORE_EVENTS.event("GuestCreateStarted")
class GuestCreateStarted(Event):
    """
    Core accepted a new guest and reserved ``cell`` for it; its create
    saga starts.

    :ivar memory: bytes.
    :ivar disks: volume sizes in bytes, the system volume first.
    :ivar template: the id of its system template.
    :ivar auto_start: start the instance once it is created.
    :ivar mac: the NIC's MAC address, chosen by Core, or None in events
        written before Core chose one.
    :ivar image: the id of the disk image the system volume starts
        from, or None for an empty system volume.
    :ivar cloud_init: the guest gets a cloud-init seed ISO; its
        administrator and password follow in a :class:`GuestAuthChanged`.
    :ivar root_enabled: the seed lets root log in over SSH with a key.
    :ivar data_path: where the seed mounts the data disks, or None.
    """

    name: str = attrs.field(validator=require_str)
    owner: str = attrs.field(validator=require_str)
    group: str = attrs.field(validator=require_str)
    pool: str = attrs.field(validator=require_str)
    cell: str = attrs.field(validator=require_str)
    cores: int = attrs.field(validator=require_size)
    memory: int = attrs.field(validator=require_size)
    disks: tuple = attrs.field(converter=tuple, validator=require_sizes)
    template: str = attrs.field(validator=require_str)
    auto_start: bool = attrs.field(validator=require_bool)
    mac: str | None = attrs.field(default=None, validator=require_optional_str)
    image: str | None = attrs.field(
        default=None, validator=require_optional_str
    )
    cloud_init: bool = attrs.field(default=False, validator=require_bool)
    root_enabled: bool = attrs.field(default=True, validator=require_bool)
    data_path: str | None = attrs.field(
        default=None, validator=require_optional_str
    )


@CORE_EVENTS.event("GuestCreateStepDone")
class GuestCreateStepDone(Event):
    """One step of a guest's create saga finished; ``step`` names it."""

    step: str = attrs.field(validator=require_str)


@CORE_EVENTS.event("GuestCreated")
class GuestCreated(Event):
    """Every step of a guest's create saga finished: the guest exists."""


@CORE_EVENTS.event("GuestCreateFailed")
class GuestCreateFailed(Event):
    """
    A guest's create saga was cut short, and its rollback starts;
    ``reason`` explains why, for the client.
    """

    reason: str = attrs.field(validator=require_str)


@CORE_EVENTS.event("GuestRolledBack")
class GuestRolledBack(Event):
    """
    The compensation of every step of a failed create saga finished:
    nothing of the guest is left on its Cell.
    """


@CORE_EVENTS.event("GuestDeleted")
class GuestDeleted(Event):
    """A guest and its instance were deleted."""


@CORE_EVENTS.event("GuestRenamed")
class GuestRenamed(Event):
    """A guest got a new ``name``, unique in its compute pool."""

    name: str = attrs.field(validator=require_str)


@CORE_EVENTS.event("GuestCoresChanged")
class GuestCoresChanged(Event):
    """
    A guest's vCPUs changed, before its Cell is asked to apply them. If
    the Cell refuses, another of these puts the old value back.

    :ivar immediate: the running instance was to change at once, rather
        than at its next start.
    """

    cores: int = attrs.field(validator=require_size)
    immediate: bool = attrs.field(validator=require_bool)


@CORE_EVENTS.event("GuestMemoryChanged")
class GuestMemoryChanged(Event):
    """
    A guest's memory changed, in bytes, as :class:`GuestCoresChanged`
    does for vCPUs.
    """

    memory: int = attrs.field(validator=require_size)
    immediate: bool = attrs.field(validator=require_bool)


@CORE_EVENTS.event("GuestAutoStartChanged")
class GuestAutoStartChanged(Event):
    """
    Whether a guest's instance starts with its Cell changed, before the
    Cell is asked to apply it; a refusal is undone by another of these.
    """

    auto_start: bool = attrs.field(validator=require_bool)


@CORE_EVENTS.event("GuestAuthChanged")
class GuestAuthChanged(Event):
    """
    A guest's administrator or password changed, before its Cell is asked
    to rebuild the guest's cloud-init seed; a refusal is undone by
    another of these with the old values.

    ``admin_secret`` is the password in plain text, because
    ``GET /guests/<id>/auth`` returns it as Nano 1.x does. Whoever can
    read Core's journal files can read it, so keep Core's data directory
    readable by root only.

    :ivar admin_name: the administrator's user name, or None for none
        recorded (only as the undo of a guest's first change).
    :ivar admin_secret: the password, or None likewise.
    """

    admin_name: str | None = attrs.field(validator=require_optional_str)
    admin_secret: str | None = attrs.field(
        validator=require_optional_str, repr=False
    )
