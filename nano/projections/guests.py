"""
Core's guests, folded from the guest events of Core's journal.

A guest goes ``creating`` (its create saga runs), then ``created``, or
``failed`` (the saga was cut short and its rollback runs) and then
``rolled back`` (nothing of it is left on its Cell). Its name, cores,
memory, autostart and administrator credentials may change after. A
deleted guest is forgotten.
"""

from collections.abc import Mapping

import attrs
from pyrsistent import PMap, pmap

from nano.events import Event
from nano.events.core import CORE_EVENTS
from nano.events.guests import (
    GuestAuthChanged,
    GuestAutoStartChanged,
    GuestCoresChanged,
    GuestCreated,
    GuestCreateFailed,
    GuestCreateStarted,
    GuestCreateStepDone,
    GuestDeleted,
    GuestMemoryChanged,
    GuestRenamed,
    GuestRolledBack,
)

from ._projection import Projection, SnapshotFormatError

CREATING = "creating"
CREATED = "created"
FAILED = "failed"
ROLLED_BACK = "rolled back"
#: The states of a guest whose create saga has not finished.
UNFINISHED = frozenset({CREATING, FAILED})


@attrs.frozen
class Guest:
    """
    A guest's configuration and the progress of its create saga.

    :ivar steps: the saga steps done, in order.
    :ivar error: why its creation failed, or ``None``.
    :ivar create_time: the UTC time its creation started, ISO 8601.
    :ivar mac: the NIC's MAC address, or None for a guest created before
        Core chose one.
    :ivar image: the id of the disk image it was created from, or None.
    :ivar cloud_init: it has a cloud-init seed ISO, with
        ``root_enabled`` and ``data_path``.
    :ivar admin_name: the administrator's user name in its cloud-init
        seed, or None when none was recorded.
    :ivar admin_secret: that administrator's password, or None.
    """

    id: str
    name: str
    owner: str
    group: str
    pool: str
    cell: str
    cores: int
    memory: int
    disks: tuple
    template: str
    auto_start: bool
    task_id: str | None
    create_time: str
    status: str = CREATING
    steps: tuple = ()
    error: str | None = None
    mac: str | None = None
    image: str | None = None
    cloud_init: bool = False
    root_enabled: bool = True
    data_path: str | None = None
    admin_name: str | None = None
    admin_secret: str | None = attrs.field(default=None, repr=False)


_CONFIG_FIELDS = (
    "name",
    "owner",
    "group",
    "pool",
    "cell",
    "cores",
    "memory",
    "disks",
    "template",
    "auto_start",
    "mac",
    "image",
    "cloud_init",
    "root_enabled",
    "data_path",
)


def _started(guests: PMap, event) -> PMap:
    config = {name: getattr(event, name) for name in _CONFIG_FIELDS}
    guest = Guest(
        event.aggregate_id,
        task_id=event.task_id,
        create_time=event.time.isoformat(),
        **config,
    )
    return guests.set(event.aggregate_id, guest)


def _changed(guests: PMap, event, **changes) -> PMap:
    guest = guests.get(event.aggregate_id)
    if guest is None:
        return guests
    return guests.set(event.aggregate_id, attrs.evolve(guest, **changes))


def _step_done(guests: PMap, event) -> PMap:
    guest = guests.get(event.aggregate_id)
    if guest is None:
        return guests
    return _changed(guests, event, steps=(*guest.steps, event.step))


def _created(guests: PMap, event) -> PMap:
    return _changed(guests, event, status=CREATED)


def _failed(guests: PMap, event) -> PMap:
    return _changed(guests, event, status=FAILED, error=event.reason)


def _rolled_back(guests: PMap, event) -> PMap:
    return _changed(guests, event, status=ROLLED_BACK)


def _renamed(guests: PMap, event) -> PMap:
    return _changed(guests, event, name=event.name)


def _cores_changed(guests: PMap, event) -> PMap:
    return _changed(guests, event, cores=event.cores)


def _memory_changed(guests: PMap, event) -> PMap:
    return _changed(guests, event, memory=event.memory)


def _auto_start_changed(guests: PMap, event) -> PMap:
    return _changed(guests, event, auto_start=event.auto_start)


def _auth_changed(guests: PMap, event) -> PMap:
    return _changed(
        guests,
        event,
        admin_name=event.admin_name,
        admin_secret=event.admin_secret,
    )


def _deleted(guests: PMap, event) -> PMap:
    return guests.discard(event.aggregate_id)


class GuestProjection(Projection):
    """Core's guests by id, a :class:`~pyrsistent.PMap` of :class:`Guest`."""

    name = "guests"
    registry = CORE_EVENTS
    handlers = {
        GuestCreateStarted: _started,
        GuestCreateStepDone: _step_done,
        GuestCreated: _created,
        GuestCreateFailed: _failed,
        GuestRolledBack: _rolled_back,
        GuestRenamed: _renamed,
        GuestCoresChanged: _cores_changed,
        GuestMemoryChanged: _memory_changed,
        GuestAutoStartChanged: _auto_start_changed,
        GuestAuthChanged: _auth_changed,
        GuestDeleted: _deleted,
    }
    snapshot_version = 1

    def initial(self) -> PMap:
        """Return no guests."""
        return pmap()

    def apply(self, state: PMap, event: Event) -> PMap:
        """Return the guests after ``event``."""
        handler = self.handlers.get(type(event))
        return state if handler is None else handler(state, event)

    def to_json(self, state: PMap) -> dict:
        """Return the guests as a JSON object, for a snapshot."""
        return {
            "version": self.snapshot_version,
            "guests": {
                id_: {**attrs.asdict(guest), "disks": list(guest.disks)}
                for id_, guest in state.items()
            },
        }

    def from_json(self, data) -> PMap:
        """
        Return the guests that :meth:`to_json` wrote.

        :raises SnapshotFormatError: ``data`` has another shape.
        """
        if not isinstance(data, Mapping) or data.get("version") != 1:
            raise SnapshotFormatError("guests snapshot is not version 1")
        try:
            return pmap(
                {
                    id_: Guest(
                        **{
                            **fields,
                            "disks": tuple(fields["disks"]),
                            "steps": tuple(fields["steps"]),
                        }
                    )
                    for id_, fields in data["guests"].items()
                }
            )
        except (AttributeError, KeyError, TypeError) as error:
            raise SnapshotFormatError(
                f"invalid guests snapshot: {error}"
            ) from None
