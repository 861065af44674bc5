"""
The JSON types that message field annotations name, as checks on
decoded values.

A received message is checked against its class's annotations before
the class is built, so a handler never receives a JSON object in a
field annotated ``str``. Supported: ``str``, ``int``, ``float`` (which takes
whole numbers too), ``bool``, ``None``, ``list`` and ``list[X]``,
``dict`` and ``dict[str, X]``, unions of these (``str | None``), and
``typing.Any``, ``object`` or no annotation for any value.
"""

import types
import typing

import attrs


@attrs.frozen
class JSONType:
    """
    A check of a decoded JSON value, with what it accepts in words.

    :ivar accepts: returns whether a value is of this type.
    :ivar singular: the type for an error message, such as ``a string``.
    :ivar plural: the same in the plural, such as ``strings``.
    """

    accepts: typing.Callable[[object], bool]
    singular: str
    plural: str


# orjson decodes to exactly these types, so ``type(value) is int`` also
# rejects true and false, which are bools.
_BASIC = {
    str: JSONType(lambda v: type(v) is str, "a string", "strings"),
    int: JSONType(lambda v: type(v) is int, "a whole number", "whole numbers"),
    float: JSONType(lambda v: type(v) in (int, float), "a number", "numbers"),
    bool: JSONType(
        lambda v: type(v) is bool, "true or false", "true or false values"
    ),
    type(None): JSONType(lambda v: v is None, "null", "nulls"),
    list: JSONType(lambda v: type(v) is list, "a list", "lists"),
    dict: JSONType(lambda v: type(v) is dict, "a JSON object", "JSON objects"),
}


def json_type(annotation) -> JSONType | None:
    """
    Return the check for a field annotation, or None for any value.

    :raises TypeError: the annotation names no JSON type.
    """
    if annotation is None or annotation in (typing.Any, object):
        return None
    if annotation in _BASIC:
        return _BASIC[annotation]
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return _union([json_type(argument) for argument in arguments])
    if origin is list and len(arguments) == 1:
        return _list_of(json_type(arguments[0]))
    if origin is dict and len(arguments) == 2 and arguments[0] is str:
        return _object_of(json_type(arguments[1]))
    raise TypeError(f"{annotation!r} is not a JSON type")


def _union(members):
    if None in members:
        return None
    return JSONType(
        lambda v: any(member.accepts(v) for member in members),
        " or ".join(member.singular for member in members),
        " or ".join(member.plural for member in members),
    )


def _list_of(item):
    if item is None:
        return _BASIC[list]
    return JSONType(
        lambda v: type(v) is list and all(item.accepts(x) for x in v),
        f"a list of {item.plural}",
        f"lists of {item.plural}",
    )


def _object_of(value):
    if value is None:
        return _BASIC[dict]
    return JSONType(
        lambda v: type(v) is dict and all(map(value.accepts, v.values())),
        f"a JSON object of {value.plural}",
        f"JSON objects of {value.plural}",
    )


def field_types(cls) -> tuple[tuple[str, JSONType], ...]:
    """
    Return ``(field name, JSONType)`` for each checked field of an attrs
    class.

    :raises ValueError: an annotation cannot be resolved or names no
        JSON type.
    """
    fields = attrs.fields(cls)
    if any(isinstance(field.type, str) for field in fields):
        try:
            attrs.resolve_types(cls)
        except NameError as error:
            raise ValueError(
                f"cannot resolve the annotations of {cls.__name__}: {error}"
            ) from None
        fields = attrs.fields(cls)
    checks = []
    for field in fields:
        try:
            checked = json_type(field.type)
        except TypeError as error:
            raise ValueError(
                f"field {field.name} of {cls.__name__}: {error}; use str, "
                "int, float, bool, None, list, dict or a union of these"
            ) from None
        if checked is not None:
            checks.append((field.name, checked))
    return tuple(checks)
