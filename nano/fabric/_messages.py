"""
Fabric messages: JSON objects with a type name and named fields.

::

    {"type": "CreateInstanceRequest", "from_session": 7, "name": "vm1"}

``from_session`` is set on requests and ``to_session`` on replies (see
:class:`nano.fabric.Session`); all other keys are the message's fields.
Unknown fields are ignored, so a newer node may add fields that an older
one does not know.
"""

from typing import ClassVar

import attrs
import orjson

from ._json_types import field_types

ENVELOPE = ("from_session", "to_session")
RESERVED = frozenset(("type", *ENVELOPE))
#: Maximum length of a value's repr, or of a constructor's error, that
#: an error message shows in full. The cut keeps an ErrorReply from
#: echoing a large payload back.
MAX_SHOWN = 200


class MessageError(ValueError):
    """
    A received message cannot be decoded.

    :ivar envelope: the session fields that could still be read, so that
        the error can be sent back to the waiting request.
    """

    def __init__(self, message: str, envelope: dict | None = None):
        super().__init__(message)
        self.envelope = envelope or {}


class Message:
    """The base of every fabric message type."""

    type_name: ClassVar[str] = ""


def _session_fields(value):
    return {
        key: value[key]
        for key in ENVELOPE
        if type(value.get(key)) is int and value[key] > 0
    }


class MessageRegistry:
    """
    The message types a node can decode.

    Core and Cell share one registry of the Nano vocabulary; tests build
    their own. Every registry contains :class:`ErrorReply`.
    """

    def __init__(self):
        self._types: dict[str, type] = {}
        self._field_types: dict[str, tuple] = {}
        self.message("ErrorReply")(ErrorReply)

    def message(self, type_name: str):
        """
        Declare and register a message class (a class decorator).

        The class becomes a frozen, keyword-only attrs class; its fields
        must hold JSON values. A received message whose field value does
        not match the field's annotation (``str``, ``int``, ``float``,
        ``bool``, ``list[X]``, ``dict[str, X]``, ``X | None``...) is
        rejected with a :class:`MessageError`.

        :raises ValueError: the name is taken, a field has a reserved
            name, or an annotation names no JSON type.
        """

        def declare(cls):
            if type_name in self._types:
                raise ValueError(f"message type {type_name} already exists")
            if not attrs.has(cls):
                cls = attrs.frozen(kw_only=True)(cls)
            clash = RESERVED & {field.name for field in attrs.fields(cls)}
            if clash:
                raise ValueError(
                    f"{type_name} must not have fields named "
                    f"{', '.join(sorted(clash))}"
                )
            checks = field_types(cls)
            cls.type_name = type_name
            self._types[type_name] = cls
            self._field_types[type_name] = checks
            return cls

        return declare

    def registered(self, message) -> bool:
        """Return whether ``message`` is an instance of a registered type."""
        type_name = getattr(message, "type_name", None)
        return self._types.get(type_name) is type(message)

    def encode(self, message, **envelope) -> bytes:
        """Return the JSON bytes of a message with its session fields."""
        if not self.registered(message):
            raise ValueError(
                f"{type(message).__name__} is not registered in this registry"
            )
        value = {"type": message.type_name, **envelope}
        value.update(attrs.asdict(message, recurse=False))
        return orjson.dumps(value)

    def decode(self, data: bytes):
        """
        Return ``(message, envelope)`` for received JSON bytes.

        :raises MessageError: naming what is wrong with the message.
        """
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise MessageError(f"invalid JSON: {error}") from None
        if not isinstance(value, dict):
            raise MessageError(
                f"a message must be a JSON object, not {type(value).__name__}"
            )
        envelope = _session_fields(value)
        type_name = value.get("type")
        cls = self._types.get(type_name) if type(type_name) is str else None
        if cls is None:
            raise MessageError(f"unknown message type {type_name!r}", envelope)
        return self._build(cls, value, envelope), envelope

    def _build(self, cls, value, envelope):
        fields = attrs.fields(cls)
        missing = [
            field.name
            for field in fields
            if field.default is attrs.NOTHING and field.name not in value
        ]
        if missing:
            raise MessageError(
                f"invalid {cls.type_name}: missing field(s) "
                f"{', '.join(missing)}",
                envelope,
            )
        known = {f.name: value[f.name] for f in fields if f.name in value}
        self._check_types(cls, known, envelope)
        try:
            return cls(**known)
        except (TypeError, ValueError) as error:
            raise MessageError(
                f"invalid {cls.type_name}: {_cut(str(error))}", envelope
            ) from None

    def _check_types(self, cls, known, envelope):
        for name, json_type in self._field_types[cls.type_name]:
            if name in known and not json_type.accepts(known[name]):
                raise MessageError(
                    f"invalid {cls.type_name}: invalid {name} "
                    f"{_cut(repr(known[name]))}: must be "
                    f"{json_type.singular}",
                    envelope,
                )


def _cut(text):
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[:MAX_SHOWN]}... ({len(text)} characters)"


@attrs.frozen(kw_only=True)
class ErrorReply(Message):
    """The reply to a request that failed, or to a malformed message."""

    error: str = attrs.field(validator=attrs.validators.instance_of(str))
