"""
Core's state: compute pools, their Cells, system templates and address
pools, folded from events.
"""

from collections.abc import Iterable, Mapping

import attrs
from pyrsistent import PMap, pmap

from nano.events import Event
from nano.events.core import (
    CORE_EVENTS,
    CellAdded,
    CellDisabled,
    CellEnabled,
    CellRemoved,
    ComputePoolCreated,
    ComputePoolDeleted,
    ComputePoolModified,
    SystemTemplateCreated,
    SystemTemplateDeleted,
    SystemTemplateModified,
)

from ._draft import MapDraft
from ._projection import Projection, SnapshotFormatError
from .addresses import (
    ADDRESS_FOLDS,
    AddressState,
    addresses_from_json,
    addresses_to_json,
)


@attrs.frozen
class ComputePool:
    """
    A group of Cells sharing one storage pool and one address pool.

    ``storage`` and ``network`` are ``None`` when the pool uses the
    Cells' local disks or has no address pool.
    """

    name: str
    storage: str | None
    network: str | None
    failover: bool
    enabled: bool


@attrs.frozen
class PoolCell:
    """
    A Cell's membership of a compute pool.

    Whether the Cell is connected, and its load, are soft state that
    Core keeps apart from this.
    """

    name: str
    pool: str
    enabled: bool


@attrs.frozen
class SystemTemplate:
    """A device set for new instances of one operating system."""

    id: str
    name: str
    admin: str
    operating_system: str
    disk: str
    network: str
    display: str
    control: str
    usb: str
    tablet: str


@attrs.frozen
class CoreState:
    """
    Everything Core keeps: compute pools by name, the Cells of pools by
    name, templates by id, and the address pools with their allocations.

    This class, :class:`ComputePool`, :class:`PoolCell` and
    :class:`SystemTemplate` check
    no types: the fold builds them from events, which check their fields
    when created, and :meth:`CoreProjection.from_json` checks what it
    reads from a snapshot.
    """

    pools: PMap = attrs.field(factory=pmap)
    templates: PMap = attrs.field(factory=pmap)
    cells: PMap = attrs.field(factory=pmap)
    addresses: AddressState = attrs.field(factory=AddressState)

    def cells_of(self, pool: str) -> list[PoolCell]:
        """Return the Cells of a pool, sorted by name."""
        return sorted(
            (cell for cell in self.cells.values() if cell.pool == pool),
            key=lambda cell: cell.name,
        )


_POOL_SETTINGS = {
    "storage": (str, type(None)),
    "network": (str, type(None)),
    "failover": (bool,),
    "enabled": (bool,),
}
_CELL_SETTINGS = {"pool": (str,), "enabled": (bool,)}
_TEMPLATE_SETTINGS = dict.fromkeys(
    [
        "name",
        "admin",
        "operating_system",
        "disk",
        "network",
        "display",
        "control",
        "usb",
        "tablet",
    ],
    (str,),
)


class _CoreDraft:
    """A :class:`CoreState` being changed by the events of one fold."""

    __slots__ = ("addresses", "cells", "pools", "templates")

    def __init__(self, state: CoreState):
        self.pools = MapDraft(state.pools)
        self.templates = MapDraft(state.templates)
        self.cells = MapDraft(state.cells)
        self.addresses = state.addresses

    def persistent(self, original: CoreState) -> CoreState:
        """Return the changed state, or ``original`` if nothing changed."""
        drafts = (self.pools, self.templates, self.cells)
        unchanged = self.addresses is original.addresses
        if unchanged and not any(draft.changes for draft in drafts):
            return original
        return CoreState(
            *(draft.persistent() for draft in drafts), self.addresses
        )


def _create_pool(draft: _CoreDraft, event) -> None:
    draft.pools[event.aggregate_id] = ComputePool(
        event.aggregate_id,
        event.storage,
        event.network,
        event.failover,
        event.enabled,
    )


def _modify_pool(draft: _CoreDraft, event) -> None:
    if event.aggregate_id in draft.pools:
        _create_pool(draft, event)


def _delete_pool(draft: _CoreDraft, event) -> None:
    draft.pools.discard(event.aggregate_id)


def _add_cell(draft: _CoreDraft, event) -> None:
    draft.cells[event.aggregate_id] = PoolCell(
        event.aggregate_id, event.pool, True
    )


def _remove_cell(draft: _CoreDraft, event) -> None:
    draft.cells.discard(event.aggregate_id)


def _enable_cell(draft: _CoreDraft, event) -> None:
    _set_cell_enabled(draft, event.aggregate_id, True)


def _disable_cell(draft: _CoreDraft, event) -> None:
    _set_cell_enabled(draft, event.aggregate_id, False)


def _set_cell_enabled(draft: _CoreDraft, name: str, enabled: bool) -> None:
    if name not in draft.cells:
        return
    cell = draft.cells.changes.get(name) or draft.cells.original[name]
    draft.cells[name] = attrs.evolve(cell, enabled=enabled)


def _create_template(draft: _CoreDraft, event) -> None:
    draft.templates[event.aggregate_id] = SystemTemplate(
        event.aggregate_id,
        event.name,
        event.admin,
        event.operating_system,
        event.disk,
        event.network,
        event.display,
        event.control,
        event.usb,
        event.tablet,
    )


def _modify_template(draft: _CoreDraft, event) -> None:
    if event.aggregate_id in draft.templates:
        _create_template(draft, event)


def _delete_template(draft: _CoreDraft, event) -> None:
    draft.templates.discard(event.aggregate_id)


def _change_addresses(draft: _CoreDraft, event) -> None:
    fold = ADDRESS_FOLDS[type(event)]
    draft.addresses = fold(draft.addresses, event)


class CoreProjection(Projection):
    """
    Core's compute pools and system templates.

    The fold trusts Core's commands to have checked each change: a
    ``...Created`` event for an existing id replaces the entry, and a
    ``...Modified`` or ``...Deleted`` event for a missing id changes
    nothing. A ``...Modified`` event carries every setting, so it
    replaces the entry.
    """

    name = "core"
    registry = CORE_EVENTS
    #: The change each event class makes, ``edit(draft, event)``, on a
    #: draft of the state that only the running fold uses.
    edits = {
        ComputePoolCreated: _create_pool,
        ComputePoolModified: _modify_pool,
        ComputePoolDeleted: _delete_pool,
        SystemTemplateCreated: _create_template,
        SystemTemplateModified: _modify_template,
        SystemTemplateDeleted: _delete_template,
        CellAdded: _add_cell,
        CellRemoved: _remove_cell,
        CellEnabled: _enable_cell,
        CellDisabled: _disable_cell,
        **dict.fromkeys(ADDRESS_FOLDS, _change_addresses),
    }

    #: The version of the snapshot shape; raise it with each change, and
    #: old snapshots are then replaced by a replay of the journal, unless
    #: :meth:`from_json` still reads them. Version 2 added ``cells``, and
    #: version 3 ``addresses``.
    snapshot_version = 3

    def initial(self) -> CoreState:
        """Return the state with no pools and no templates."""
        return CoreState()

    def apply(self, state: CoreState, event: Event) -> CoreState:
        """
        Return the state after ``event``; the given state is unchanged.

        An event of a type without an edit leaves the state unchanged.
        """
        return self.apply_all(state, [event])

    def apply_all(self, state: CoreState, events: Iterable[Event]):
        """
        Return the state after ``events``, changing one draft of the state
        for all of them; the given state is unchanged.
        """
        draft = _CoreDraft(state)
        edits = self.edits
        for event in events:
            edit = edits.get(type(event))
            if edit is not None:
                edit(draft, event)
        return draft.persistent(state)

    def to_json(self, state: CoreState) -> dict:
        """Return the state as a JSON object, for a snapshot."""
        return {
            "version": self.snapshot_version,
            "pools": {
                name: _settings(pool, _POOL_SETTINGS)
                for name, pool in state.pools.items()
            },
            "templates": {
                id_: _settings(template, _TEMPLATE_SETTINGS)
                for id_, template in state.templates.items()
            },
            "cells": {
                name: _settings(cell, _CELL_SETTINGS)
                for name, cell in state.cells.items()
            },
            "addresses": addresses_to_json(state.addresses),
        }

    def from_json(self, data) -> CoreState:
        """
        Return the state that :meth:`to_json` turned into ``data``,
        checking the type of every field, because snapshots come from
        disk. A version 1 snapshot was written before Core had Cells, so
        it reads with none, and one before version 3 reads with no
        address pools.

        :raises SnapshotFormatError: ``data`` has another version or shape.
        """
        version = _check_version(data, (1, 2, self.snapshot_version))
        pools = {
            name: ComputePool(
                name,
                **_checked_settings(
                    settings, _POOL_SETTINGS, f"pool {name!r}"
                ),
            )
            for name, settings in _entries(data, "pools").items()
        }
        templates = {
            id_: SystemTemplate(
                id_,
                **_checked_settings(
                    settings, _TEMPLATE_SETTINGS, f"template {id_!r}"
                ),
            )
            for id_, settings in _entries(data, "templates").items()
        }
        cells = {}
        if version >= 2:
            cells = {
                name: PoolCell(
                    name,
                    **_checked_settings(
                        settings, _CELL_SETTINGS, f"cell {name!r}"
                    ),
                )
                for name, settings in _entries(data, "cells").items()
            }
        addresses = AddressState()
        if version >= 3:
            addresses = addresses_from_json(data.get("addresses"))
        return CoreState(pmap(pools), pmap(templates), pmap(cells), addresses)


def _settings(value, names) -> dict:
    """Return the named attributes of a state entry."""
    return {name: getattr(value, name) for name in names}


def _check_version(data, accepted: tuple[int, ...]) -> int:
    version = data.get("version") if isinstance(data, Mapping) else None
    if type(version) is not int or version not in accepted:
        expected = " or ".join(str(number) for number in accepted)
        raise SnapshotFormatError(
            f"core snapshot has version {version!r}, expected {expected}"
        )
    return version


def _entries(data: Mapping, key: str) -> Mapping:
    """Return the JSON object ``data[key]``, of entries by id."""
    if key not in data:
        raise _invalid(f"missing field {key!r}")
    entries = data[key]
    if not isinstance(entries, Mapping):
        raise _invalid(
            f"{key} must be an object, not {type(entries).__name__}"
        )
    return entries


def _checked_settings(settings, types: Mapping, entry: str) -> Mapping:
    """
    Return ``settings`` once each of the fields in ``types`` is present
    with one of its types, and no other field is.
    """
    if not isinstance(settings, Mapping):
        raise _invalid(f"{entry} must be an object, not {settings!r}")
    for name, allowed in types.items():
        if name not in settings:
            raise _invalid(f"{entry} has no field {name!r}")
        value = settings[name]
        if not isinstance(value, allowed):
            expected = " or ".join(_json_type(type_) for type_ in allowed)
            raise _invalid(
                f"{entry} has {name} {value!r}, expected {expected}"
            )
    unknown = sorted(set(settings) - set(types))
    if unknown:
        raise _invalid(f"{entry} has unknown fields {unknown}")
    return settings


def _json_type(type_: type) -> str:
    names = {str: "a string", bool: "true or false", type(None): "null"}
    return names[type_]


def _invalid(problem: str) -> SnapshotFormatError:
    return SnapshotFormatError(f"invalid core snapshot: {problem}")
