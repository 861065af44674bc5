"""
Validation of JSON request bodies: each error names the field, the value
and what is accepted.
"""

import re
from collections.abc import Collection

import orjson

from ._envelope import bad_request

#: Characters of a compute pool name: a letter or digit first, then
#: letters, digits, ``_``, ``.`` or ``-``.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MAX_NAME_LENGTH = 64
NAME_RULE = (
    f"1 to {MAX_NAME_LENGTH} characters: letters, digits, '_', '.' or '-',"
    " starting with a letter or digit"
)


def parse_object(body: bytes) -> dict:
    """
    Parse a request body as a JSON object; an empty body is ``{}``.

    :raises ApiError: 400, the body is not JSON or not an object.
    """
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise bad_request(
            f"invalid JSON in the request body: {error}"
        ) from None
    if not isinstance(value, dict):
        raise bad_request(
            "invalid request body: must be a JSON object, not "
            f"{type(value).__name__}"
        )
    return value


def check_keys(
    body: dict, accepted: Collection[str], required: Collection[str] = ()
) -> None:
    """
    Reject unknown and missing fields.

    :raises ApiError: 400, naming the field and the accepted ones.
    """
    for key in body:
        if key not in accepted:
            raise bad_request(
                f"unknown field {key!r}: accepted fields are "
                f"{', '.join(sorted(accepted))}"
            )
    for key in required:
        if key not in body:
            raise bad_request(f"missing field {key!r}")


def check_name(kind: str, name: str) -> str:
    """
    Return ``name`` if it is a valid resource name.

    :param kind: what is named, for the message (``compute pool``).
    :raises ApiError: 400, with the naming rule.
    """
    if len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.fullmatch(name):
        raise bad_request(f"invalid {kind} name {name!r}: must be {NAME_RULE}")
    return name


def boolean(body: dict, key: str) -> bool:
    """Return the field ``key`` if it is a JSON boolean."""
    value = body[key]
    if not isinstance(value, bool):
        raise bad_request(
            f"invalid {key} {_show(value)}: must be true or false"
        )
    return value


def text(body: dict, key: str) -> str:
    """Return the field ``key`` if it is a JSON string."""
    value = body[key]
    if not isinstance(value, str):
        raise bad_request(f"invalid {key} {_show(value)}: must be a string")
    return value


def optional_name(body: dict, key: str, kind: str) -> str | None:
    """
    Return the field ``key`` as a resource name, or ``None`` when it is
    ``null`` or ``""`` (Nano 1.x clients send ``""`` for none).
    """
    value = body[key]
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad_request(
            f'invalid {key} {_show(value)}: must be a {kind} name or ""'
        )
    if len(value) > MAX_NAME_LENGTH or not NAME_PATTERN.fullmatch(value):
        raise bad_request(
            f'invalid {key} {value!r}: must be {NAME_RULE}, or "" for none'
        )
    return value


def choice(body: dict, key: str, choices: Collection[str]) -> str:
    """Return the field ``key`` if it is one of ``choices``."""
    value = body[key]
    if not isinstance(value, str) or value not in choices:
        raise bad_request(
            f"invalid {key} {_show(value)}: must be one of "
            f"{', '.join(choices)}"
        )
    return value


def _show(value) -> str:
    """Return a JSON value as the client wrote it, shortened."""
    encoded = orjson.dumps(value).decode()
    return encoded if len(encoded) <= 80 else encoded[:77] + "..."
