"""
Events: immutable records of every state change, their JSON codec, and
the durable journal and snapshots that store them.

Declare an event type with :meth:`EventRegistry.event`; Core and Cell
share the type definitions and each reads its own journal.
"""

from ._errors import (
    JournalClosedError,
    JournalCorruptError,
    JournalFailedError,
    JournalLockedError,
    JournalWriteError,
)
from ._event import Event, utc_time
from ._journal import Journal
from ._registry import (
    EventDecodeError,
    EventRegistry,
    RegistryError,
    UnknownEventType,
    UnknownEventVersion,
    format_time,
    parse_time,
)
from ._snapshot import Snapshot, read_snapshot, write_snapshot
from ._tools import (
    JournalLine,
    Problem,
    RepairResult,
    read_lines,
    repair,
    verify,
)

__all__ = [
    "Event",
    "EventDecodeError",
    "EventRegistry",
    "Journal",
    "JournalClosedError",
    "JournalCorruptError",
    "JournalFailedError",
    "JournalLine",
    "JournalLockedError",
    "JournalWriteError",
    "Problem",
    "RegistryError",
    "RepairResult",
    "Snapshot",
    "UnknownEventType",
    "UnknownEventVersion",
    "format_time",
    "parse_time",
    "read_lines",
    "read_snapshot",
    "repair",
    "utc_time",
    "verify",
    "write_snapshot",
]
