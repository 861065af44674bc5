"""
Event types by name, and the codec between events and JSON records.

A record is the JSON object stored for one event::

    {"type": "ComputePoolCreated", "version": 1,
     "time": "2026-12-04T16:20:00.123456Z", "aggregate_id": "pool-1",
     "task_id": null, "data": {...the payload fields...}}

Records written by an older schema are upcast on read, one version step
at a time, by the functions registered with :meth:`EventRegistry.upcaster`.
"""

import contextlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import attrs
from pyrsistent import PMap, PVector, thaw

from ._event import BASE_FIELDS, Event

Upcaster = Callable[[dict], dict]


class EventDecodeError(ValueError):
    """
    A record could not be turned into an event.

    :param position: where the record was read, such as ``file:line``.
    """

    def __init__(self, position: str, message: str):
        super().__init__(f"{position}: {message}")
        self.position = position
        self.message = message


class UnknownEventType(EventDecodeError):
    """A record names an event type that no registered class has."""


class UnknownEventVersion(EventDecodeError):
    """A record's version is newer than known, or has no upcaster."""


class RegistryError(Exception):
    """The registry's own declarations are inconsistent."""


def format_time(value: datetime) -> str:
    """
    Format a UTC datetime as RFC 3339 with microseconds and a ``Z``.
    """
    text = value.astimezone(UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """
    Parse an RFC 3339 time, such as one written by :func:`format_time`.

    :raises ValueError: the text is not an RFC 3339 time with an offset.
    """
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        value = _parse_unusual_time(text)
    if value.tzinfo is UTC:  # the usual case: format_time writes "Z"
        return value
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return value.astimezone(UTC)


def _parse_unusual_time(text) -> datetime:
    """
    Parse what ``fromisoformat`` rejects but RFC 3339 allows: a lowercase
    ``z`` (Python 3.11 accepts a lowercase ``t`` already).

    :raises ValueError: naming the value, when it is no time at all.
    """
    if isinstance(text, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(text.upper())
    raise ValueError(
        f"invalid time {text!r}: must be an RFC 3339 string with an "
        "offset, such as 2026-12-04T16:20:00.000000Z"
    )


def _json_value(value):
    if isinstance(value, PMap | PVector):
        return thaw(value)
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    return value


@attrs.frozen
class _EventType:
    cls: type[Event]
    payload_fields: tuple[str, ...]


class EventRegistry:
    """
    The event types a process can decode, and their upcasters.

    Core and Cell each read their journals through one registry; tests
    build their own so that they can declare throwaway types.
    """

    def __init__(self):
        self._types: dict[str, _EventType] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def event(self, type_name: str, version: int = 1):
        """
        Declare and register an event class (a class decorator).

        The class becomes a frozen, keyword-only attrs class whose own
        fields form the payload.

        :param type_name: the name stored in records; never change it.
        :param version: the payload's schema version; raise it by one
            with each change, and register an upcaster from the old one.
        """

        def declare(cls):
            if not issubclass(cls, Event):
                raise RegistryError(f"{cls.__name__} must subclass Event")
            if type_name in self._types:
                raise RegistryError(
                    f"event type {type_name} is already registered"
                )
            if version < 1:
                raise RegistryError(
                    f"invalid version {version} for {type_name}: "
                    "versions start at 1"
                )
            cls.type_name = type_name
            cls.version = version
            cls = attrs.frozen(kw_only=True)(cls)
            payload = tuple(
                field.name
                for field in attrs.fields(cls)
                if field.name not in BASE_FIELDS
            )
            self._types[type_name] = _EventType(cls, payload)
            return cls

        return declare

    def upcaster(self, type_name: str, from_version: int):
        """
        Register a function that turns a payload of ``from_version`` into
        one of ``from_version + 1`` (a function decorator).

        The function takes and returns a plain dict and must not mutate
        its argument.
        """

        def register(function: Upcaster) -> Upcaster:
            key = (type_name, from_version)
            if key in self._upcasters:
                raise RegistryError(
                    f"{type_name} already has an upcaster from version "
                    f"{from_version}"
                )
            self._upcasters[key] = function
            return function

        return register

    def check(self) -> None:
        """
        Verify that every registered type can upcast from version 1.

        Called when a journal opens, so that a missing step stops start-up
        rather than surfacing on the first old record.

        :raises RegistryError: naming each type and missing step.
        """
        missing = [
            f"{name} {step} -> {step + 1}"
            for name, entry in sorted(self._types.items())
            for step in range(1, entry.cls.version)
            if (name, step) not in self._upcasters
        ]
        if missing:
            raise RegistryError("missing upcasters: " + ", ".join(missing))

    def types(self) -> dict[str, type[Event]]:
        """Return a new dict of type name to event class."""
        return {name: entry.cls for name, entry in self._types.items()}

    def encode(self, event: Event) -> dict:
        """Return the JSON record for an event of a registered type."""
        entry = self._types.get(event.type_name)
        if entry is None or entry.cls is not type(event):
            raise RegistryError(
                f"{type(event).__name__} is not registered in this registry"
            )
        return {
            "type": event.type_name,
            "version": event.version,
            "time": format_time(event.time),
            "aggregate_id": event.aggregate_id,
            "task_id": event.task_id,
            "data": {
                name: _json_value(getattr(event, name))
                for name in entry.payload_fields
            },
        }

    def decode(self, record: Mapping, position: str = "<record>") -> Event:
        """
        Build an event from a JSON record, upcasting old versions.

        :param position: where the record was read, used in errors.
        :raises EventDecodeError: the record is malformed, or its type or
            version is unknown; the message names the value and position.
        """
        if record.__class__ is not dict and not isinstance(record, Mapping):
            raise EventDecodeError(
                position, f"event record must be an object, not {record!r}"
            )
        type_name = record.get("type")
        # A list or an object as the type would fail the dict lookup.
        known = isinstance(type_name, str)
        entry = self._types.get(type_name) if known else None
        if entry is None:
            raise UnknownEventType(
                position,
                f"unknown event type {type_name!r}: this Nano knows "
                f"{len(self._types)} types; a newer Nano may have written it",
            )
        version = record.get("version")
        data = record.get("data", {})
        # A dict of the current version needs no upcasting, so only other
        # records go through the full checks of _upcast.
        if (
            version.__class__ is not int
            or version != entry.cls.version
            or data.__class__ is not dict
        ):
            data = self._upcast(
                type_name, version, entry.cls.version, data, position
            )
        try:
            return entry.cls(
                aggregate_id=record["aggregate_id"],
                time=parse_time(record["time"]),
                task_id=record.get("task_id"),
                **data,
            )
        except KeyError as missing:
            raise EventDecodeError(
                position, f"{type_name} record has no field {missing}"
            ) from None
        except (TypeError, ValueError) as error:
            raise EventDecodeError(
                position, f"invalid {type_name} record: {error}"
            ) from None

    def _upcast(self, type_name, version, current, data, position):
        if not isinstance(version, int) or isinstance(version, bool):
            raise UnknownEventVersion(
                position,
                f"invalid version {version!r} for {type_name}: "
                "must be an integer",
            )
        if not isinstance(data, Mapping):
            raise EventDecodeError(
                position, f"{type_name} data must be an object, not {data!r}"
            )
        if version > current:
            raise UnknownEventVersion(
                position,
                f"{type_name} version {version} is newer than this Nano "
                f"knows (version {current}); upgrade Nano to read it",
            )
        if version < 1:
            raise UnknownEventVersion(
                position,
                f"invalid version {version} for {type_name}: "
                "versions start at 1",
            )
        while version < current:
            upcast = self._upcasters.get((type_name, version))
            if upcast is None:
                raise UnknownEventVersion(
                    position,
                    f"{type_name} version {version} has no upcaster to "
                    f"version {version + 1}",
                )
            data = upcast(dict(data))
            version += 1
        return data
