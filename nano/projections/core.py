"""
Core's state: compute pools and system templates, folded from events.
"""

from collections.abc import Mapping

from pyrsistent import InvariantException, PClass, field, pmap_field

from nano.events.core import (
    CORE_EVENTS,
    ComputePoolCreated,
    ComputePoolDeleted,
    ComputePoolModified,
    SystemTemplateCreated,
    SystemTemplateDeleted,
    SystemTemplateModified,
)

from ._projection import Projection, SnapshotFormatError

_optional_text = (str, type(None))


class ComputePool(PClass):
    """
    A group of Cells sharing one storage pool and one address pool.

    ``storage`` and ``network`` are ``None`` when the pool uses the
    Cells' local disks or has no address pool.
    """

    name = field(type=str, mandatory=True)
    storage = field(type=_optional_text, mandatory=True)
    network = field(type=_optional_text, mandatory=True)
    failover = field(type=bool, mandatory=True)
    enabled = field(type=bool, mandatory=True)


class SystemTemplate(PClass):
    """A device set for new instances of one operating system."""

    id = field(type=str, mandatory=True)
    name = field(type=str, mandatory=True)
    admin = field(type=str, mandatory=True)
    operating_system = field(type=str, mandatory=True)
    disk = field(type=str, mandatory=True)
    network = field(type=str, mandatory=True)
    display = field(type=str, mandatory=True)
    control = field(type=str, mandatory=True)
    usb = field(type=str, mandatory=True)
    tablet = field(type=str, mandatory=True)


class CoreState(PClass):
    """
    Everything Core keeps: compute pools by name, templates by id.
    """

    pools = pmap_field(str, ComputePool)
    templates = pmap_field(str, SystemTemplate)


# Exceptions that building a state from a wrongly shaped snapshot raises.
_SHAPE_ERRORS = (
    AttributeError,
    InvariantException,
    TypeError,
    ValueError,
)
_POOL_SETTINGS = ("storage", "network", "failover", "enabled")
_TEMPLATE_SETTINGS = (
    "name",
    "admin",
    "operating_system",
    "disk",
    "network",
    "display",
    "control",
    "usb",
    "tablet",
)


def _settings(value, names) -> dict:
    """Return the named attributes of an event or a state entry."""
    return {name: getattr(value, name) for name in names}


def _create_pool(state: CoreState, event) -> CoreState:
    pool = ComputePool(
        name=event.aggregate_id, **_settings(event, _POOL_SETTINGS)
    )
    return state.set(pools=state.pools.set(pool.name, pool))


def _modify_pool(state: CoreState, event) -> CoreState:
    pool = state.pools.get(event.aggregate_id)
    if pool is None:
        return state
    pool = pool.set(**_settings(event, _POOL_SETTINGS))
    return state.set(pools=state.pools.set(pool.name, pool))


def _delete_pool(state: CoreState, event) -> CoreState:
    return state.set(pools=state.pools.discard(event.aggregate_id))


def _create_template(state: CoreState, event) -> CoreState:
    template = SystemTemplate(
        id=event.aggregate_id, **_settings(event, _TEMPLATE_SETTINGS)
    )
    return state.set(templates=state.templates.set(template.id, template))


def _modify_template(state: CoreState, event) -> CoreState:
    template = state.templates.get(event.aggregate_id)
    if template is None:
        return state
    template = template.set(**_settings(event, _TEMPLATE_SETTINGS))
    return state.set(templates=state.templates.set(template.id, template))


def _delete_template(state: CoreState, event) -> CoreState:
    return state.set(templates=state.templates.discard(event.aggregate_id))


class CoreProjection(Projection):
    """
    Core's compute pools and system templates.

    The fold trusts Core's commands to have checked each change: a
    ``...Created`` event for an existing id replaces the entry, and a
    ``...Modified`` or ``...Deleted`` event for a missing id changes
    nothing.
    """

    name = "core"
    registry = CORE_EVENTS
    handlers = {
        ComputePoolCreated: _create_pool,
        ComputePoolModified: _modify_pool,
        ComputePoolDeleted: _delete_pool,
        SystemTemplateCreated: _create_template,
        SystemTemplateModified: _modify_template,
        SystemTemplateDeleted: _delete_template,
    }

    #: The version of the snapshot shape; raise it with each change, and
    #: old snapshots are then replaced by a replay of the journal.
    snapshot_version = 1

    def initial(self) -> CoreState:
        """Return the state with no pools and no templates."""
        return CoreState()

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
        }

    def from_json(self, data) -> CoreState:
        """
        Return the state that :meth:`to_json` turned into ``data``.

        :raises SnapshotFormatError: ``data`` has another version or shape.
        """
        _check_version(data, self.snapshot_version)
        try:
            pools = {
                name: ComputePool(name=name, **settings)
                for name, settings in data["pools"].items()
            }
            templates = {
                id_: SystemTemplate(id=id_, **settings)
                for id_, settings in data["templates"].items()
            }
        except KeyError as missing:
            raise SnapshotFormatError(
                f"invalid core snapshot: missing field {missing}"
            ) from None
        except _SHAPE_ERRORS as error:
            raise SnapshotFormatError(
                f"invalid core snapshot: {error}"
            ) from None
        return CoreState(pools=pools, templates=templates)


def _check_version(data, expected: int) -> None:
    version = data.get("version") if isinstance(data, Mapping) else None
    if version != expected:
        raise SnapshotFormatError(
            f"core snapshot has version {version!r}, expected {expected}"
        )
