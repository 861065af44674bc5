"""
A Cell's state: the instances it hosts, folded from its own journal.
"""

from collections.abc import Iterable, Mapping

import attrs
from pyrsistent import PMap, freeze, pmap, thaw

from nano.events import Event
from nano.events.cell import (
    CELL_EVENTS,
    InstanceCreated,
    InstanceCreateFailed,
    InstanceCreating,
    InstanceDeleted,
    InstanceDeleteFailed,
    InstanceDeleting,
    InstanceLost,
    InstanceStarted,
    InstanceStopped,
    MediaEjected,
    MediaInserted,
    VolumeCreated,
    VolumeDeleted,
)

from ._draft import MapDraft
from ._projection import Projection, SnapshotFormatError


@attrs.frozen
class Instance:
    """
    One instance on the Cell: what it was created with, the volumes made
    for it so far, and its last known state.

    :ivar state: ``creating``, ``stopped``, ``running``, ``deleting`` or
        ``lost``.
    :ivar stop_reason: why it last stopped, or ``None``.
    :ivar task_id: the Core task that created it.
    :ivar media: the ISO file in its CD-ROM drive, or ``None``.
    :ivar media_image: the id on Core of that media image, or ``None``.
    :ivar network: its address settings from Core (``address``,
        ``prefix``, ``gateway``, ``dns``, ``provider``), or ``None``.
    """

    id: str
    name: str
    cores: int
    memory: int
    disks: tuple
    disk_bus: str
    nic_model: str
    display: str
    control: str
    usb: str
    tablet: str
    mac: str | None
    image: str | None
    state: str
    volumes: tuple = ()
    stop_reason: str | None = None
    task_id: str | None = None
    media: str | None = None
    media_image: str | None = None
    network: PMap | None = None


@attrs.frozen
class CellState:
    """Every instance the Cell holds, by id."""

    instances: PMap = attrs.field(factory=pmap)


def _create(instances, event):
    instances[event.aggregate_id] = Instance(
        id=event.aggregate_id,
        name=event.name,
        cores=event.cores,
        memory=event.memory,
        disks=event.disks,
        disk_bus=event.disk_bus,
        nic_model=event.nic_model,
        display=event.display,
        control=event.control,
        usb=event.usb,
        tablet=event.tablet,
        mac=event.mac,
        image=event.image,
        network=event.network,
        state="creating",
        task_id=event.task_id,
    )


def _change(instances, event, **changes):
    instance = instances.get(event.aggregate_id)
    if instance is not None:
        instances[event.aggregate_id] = attrs.evolve(instance, **changes)


def _add_volume(instances, event):
    instance = instances.get(event.aggregate_id)
    if instance is not None and event.volume not in instance.volumes:
        _change(instances, event, volumes=(*instance.volumes, event.volume))


def _remove_volume(instances, event):
    instance = instances.get(event.aggregate_id)
    if instance is not None:
        volumes = tuple(v for v in instance.volumes if v != event.volume)
        _change(instances, event, volumes=volumes)


def _remove(instances, event):
    instances.discard(event.aggregate_id)


class _Draft(MapDraft):
    """A map draft that also reads the entries it has changed."""

    __slots__ = ()

    def get(self, key):
        if key in self.changes:
            return self.changes[key] if key in self else None
        return self.original.get(key)


_EDITS = {
    InstanceCreating: _create,
    VolumeCreated: _add_volume,
    VolumeDeleted: _remove_volume,
    InstanceCreated: lambda d, e: _change(d, e, state="stopped"),
    InstanceCreateFailed: _remove,
    InstanceStarted: lambda d, e: _change(d, e, state="running"),
    InstanceStopped: lambda d, e: _change(
        d, e, state="stopped", stop_reason=e.reason
    ),
    InstanceLost: lambda d, e: _change(d, e, state="lost"),
    InstanceDeleting: lambda d, e: _change(d, e, state="deleting"),
    InstanceDeleteFailed: lambda d, e: _change(d, e, state=e.state),
    InstanceDeleted: _remove,
    MediaInserted: lambda d, e: _change(
        d, e, media=e.path, media_image=e.image
    ),
    MediaEjected: lambda d, e: _change(d, e, media=None, media_image=None),
}

_FIELDS = {
    field.name: field for field in attrs.fields(Instance) if field.name != "id"
}
_TUPLES = ("disks", "volumes")
#: Fields added after version 1 snapshots were first written: a
#: snapshot without them takes their defaults.
_LATER_FIELDS = frozenset({"media", "media_image", "network"})


class CellProjection(Projection):
    """
    A Cell's instances. Events for an instance the state does not have
    (already deleted, or failed) change nothing.
    """

    name = "cell"
    registry = CELL_EVENTS
    snapshot_version = 1

    def initial(self) -> CellState:
        """Return the state with no instances."""
        return CellState()

    def apply(self, state: CellState, event: Event) -> CellState:
        """Return the state after ``event``."""
        return self.apply_all(state, [event])

    def apply_all(self, state: CellState, events: Iterable[Event]):
        """Return the state after ``events``, through one draft."""
        draft = _Draft(state.instances)
        for event in events:
            edit = _EDITS.get(type(event))
            if edit is not None:
                edit(draft, event)
        if not draft.changes:
            return state
        return CellState(draft.persistent())

    def to_json(self, state: CellState) -> dict:
        """Return the state as a JSON object, for a snapshot."""
        instances = {}
        for id_, instance in state.instances.items():
            value = attrs.asdict(instance)
            del value["id"]
            for name in _TUPLES:
                value[name] = list(value[name])
            value["network"] = thaw(instance.network)
            instances[id_] = value
        return {"version": self.snapshot_version, "instances": instances}

    def from_json(self, data) -> CellState:
        """
        Return the state :meth:`to_json` turned into ``data``.

        :raises SnapshotFormatError: ``data`` has another version or shape.
        """
        if not isinstance(data, Mapping) or data.get("version") != 1:
            raise SnapshotFormatError(
                "cell snapshot has another version or shape, expected "
                f"version {self.snapshot_version}"
            )
        instances = data.get("instances")
        if not isinstance(instances, Mapping):
            raise SnapshotFormatError("cell snapshot has no instances object")
        return CellState(
            pmap({id_: _instance(id_, v) for id_, v in instances.items()})
        )


def _instance(id_, value) -> Instance:
    if not isinstance(value, Mapping) or not (
        set(_FIELDS) - _LATER_FIELDS <= set(value) <= set(_FIELDS)
    ):
        raise SnapshotFormatError(
            f"instance {id_!r} in the cell snapshot does not have the "
            f"fields {sorted(_FIELDS)}"
        )
    fields = dict(value)
    for name in _TUPLES:
        if not isinstance(fields[name], list):
            raise SnapshotFormatError(
                f"instance {id_!r} has {name} {fields[name]!r}, expected "
                "a list"
            )
        fields[name] = tuple(fields[name])
    fields["network"] = freeze(fields.get("network"))
    return Instance(id=id_, **fields)
