"""
Events: immutable records of every state change, and their JSON codec.

Declare an event type with :meth:`EventRegistry.event`; Core and Cell
share the type definitions and each reads its own journal.
"""

from ._event import Event, utc_time
from ._registry import (
    EventDecodeError,
    EventRegistry,
    RegistryError,
    UnknownEventType,
    UnknownEventVersion,
    format_time,
    parse_time,
)

__all__ = [
    "Event",
    "EventDecodeError",
    "EventRegistry",
    "RegistryError",
    "UnknownEventType",
    "UnknownEventVersion",
    "format_time",
    "parse_time",
    "utc_time",
]
