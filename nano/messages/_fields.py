"""
Field validators for messages, so that a message with a wrong value is
rejected when it is decoded, with the field and what is accepted.
"""

import attrs


def _reject(attribute, value, accepted):
    return TypeError(f"invalid {attribute.name} {value!r}: must be {accepted}")


def text(instance, attribute, value):
    """Accept a string."""
    if not isinstance(value, str):
        raise _reject(attribute, value, "a string")


def optional_text(instance, attribute, value):
    """Accept a string or null."""
    if value is not None and not isinstance(value, str):
        raise _reject(attribute, value, "a string or null")


def flag(instance, attribute, value):
    """Accept true or false."""
    if not isinstance(value, bool):
        raise _reject(attribute, value, "true or false")


def count(instance, attribute, value):
    """Accept a whole number of 0 or more."""
    if not _is_int(value) or value < 0:
        raise _reject(attribute, value, "a whole number, 0 or more")


def positive(instance, attribute, value):
    """Accept a whole number of 1 or more."""
    if not _is_int(value) or value < 1:
        raise _reject(attribute, value, "a whole number, 1 or more")


def fraction(instance, attribute, value):
    """Accept a number from 0 to 1."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _reject(attribute, value, "a number from 0 to 1")
    if not 0 <= value <= 1:
        raise _reject(attribute, value, "a number from 0 to 1")


def sizes(instance, attribute, value):
    """Accept a non-empty list of sizes in bytes, each 1 or more."""
    if not isinstance(value, list | tuple) or not value:
        raise _reject(attribute, value, "a non-empty list of sizes in bytes")
    if not all(_is_int(size) and size > 0 for size in value):
        raise _reject(attribute, value, "a list of sizes in bytes, each > 0")


def objects(instance, attribute, value):
    """Accept a list of JSON objects."""
    if not isinstance(value, list | tuple) or not all(
        isinstance(item, dict) for item in value
    ):
        raise _reject(attribute, value, "a list of JSON objects")


def mapping(instance, attribute, value):
    """Accept a JSON object."""
    if not isinstance(value, dict):
        raise _reject(attribute, value, "a JSON object")


def optional_mapping(instance, attribute, value):
    """Accept a JSON object or null."""
    if value is not None and not isinstance(value, dict):
        raise _reject(attribute, value, "a JSON object or null")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def field(validator, **options):
    """Return an attrs field checked by ``validator``."""
    return attrs.field(validator=validator, **options)


def names(instance, attribute, value):
    """Accept a list of strings."""
    if not isinstance(value, list | tuple) or not all(
        isinstance(item, str) for item in value
    ):
        raise _reject(attribute, value, "a list of strings")
