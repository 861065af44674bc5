"""The base of every event: what happened, to which aggregate, when, why."""

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import attrs


def _require_utc(instance, attribute, value):
    if value.tzinfo is None or value.utcoffset() != timedelta(0):
        raise ValueError(
            f"invalid {attribute.name} {value.isoformat()}: "
            "event times must be timezone-aware UTC datetimes"
        )


@attrs.frozen(kw_only=True)
class Event:
    """
    An immutable record of one state change, in the past tense.

    Subclasses are declared with :meth:`EventRegistry.event`, which sets
    :attr:`type_name` and :attr:`version` and makes them frozen attrs
    classes; their own fields are the event's payload and must hold JSON
    values (str, int, float, bool, None, tuples and frozen mappings).
    """

    type_name: ClassVar[str] = ""
    version: ClassVar[int] = 1

    aggregate_id: str = attrs.field(
        validator=attrs.validators.instance_of(str)
    )
    time: datetime = attrs.field(validator=_require_utc)
    task_id: str | None = None


BASE_FIELDS = tuple(field.name for field in attrs.fields(Event))


def utc_time(seconds: float) -> datetime:
    """
    Convert a POSIX timestamp, as from ``reactor.seconds()``, to UTC.
    """
    return datetime.fromtimestamp(seconds, UTC)
