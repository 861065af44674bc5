"""The base of every event: what happened, to which aggregate, when, why."""

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import attrs

_ZERO = timedelta(0)

# The validators below are plain functions rather than
# attrs.validators.instance_of, which costs a method call each: replaying
# a journal builds every event again, so their cost counts.


def require_str(instance, attribute, value) -> None:
    """Raise :class:`TypeError` unless ``value`` is a string."""
    if value.__class__ is not str and not isinstance(value, str):
        raise _wrong_type(attribute, value, "a string")


def require_optional_str(instance, attribute, value) -> None:
    """Raise :class:`TypeError` unless ``value`` is a string or None."""
    if (
        value is not None
        and value.__class__ is not str
        and not isinstance(value, str)
    ):
        raise _wrong_type(attribute, value, "a string or None")


def require_bool(instance, attribute, value) -> None:
    """Raise :class:`TypeError` unless ``value`` is True or False."""
    if value is not True and value is not False:
        raise _wrong_type(attribute, value, "True or False")


def require_size(instance, attribute, value) -> None:
    """Raise :class:`TypeError` unless ``value`` is an integer of 1 or more."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError(
            f"invalid {attribute.name} {value!r}: must be a whole number, "
            "1 or more"
        )


def require_sizes(instance, attribute, value) -> None:
    """
    Raise :class:`TypeError` unless ``value`` is a non-empty sequence of
    integers of 1 or more, such as disk sizes in bytes.
    """
    if not value or not all(
        isinstance(size, int) and not isinstance(size, bool) and size > 0
        for size in value
    ):
        raise TypeError(
            f"invalid {attribute.name} {value!r}: must be a non-empty list "
            "of sizes in bytes"
        )


def _wrong_type(attribute, value, expected: str) -> TypeError:
    return TypeError(
        f"invalid {attribute.name} {value!r}: must be {expected}, "
        f"not {type(value).__name__}"
    )


def _require_utc(instance, attribute, value):
    if value.tzinfo is not UTC and value.utcoffset() != _ZERO:
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

    aggregate_id: str = attrs.field(validator=require_str)
    time: datetime = attrs.field(validator=_require_utc)
    task_id: str | None = attrs.field(
        default=None, validator=require_optional_str
    )


BASE_FIELDS = tuple(field.name for field in attrs.fields(Event))


def utc_time(seconds: float) -> datetime:
    """
    Convert a POSIX timestamp, as from ``reactor.seconds()``, to UTC.
    """
    return datetime.fromtimestamp(seconds, UTC)
