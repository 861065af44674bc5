"""Read and write JSON configuration files."""

from collections.abc import Callable
from pathlib import Path

import orjson

from nano.durable import write_atomic_bytes

#: Maximum length of a value's repr that an error message shows in full.
MAX_SHOWN = 60


class ConfigError(ValueError):
    """
    A configuration file is missing, unreadable or holds an invalid value.

    The message names the file, the key and what would be accepted.
    """


def load(path: Path, missing_ok: bool = False) -> dict:
    """
    Read a JSON object from a configuration file.

    :param missing_ok: return an empty dict when the file does not exist.
    :raises ConfigError: the file cannot be read or is not a JSON object.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ConfigError(f"{path}: invalid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ConfigError(
            f"{path}: must hold a JSON object, not {type(value).__name__}"
        )
    return value


def require(
    path: Path,
    key: str,
    value,
    check: Callable[[object], bool],
    accepted: str,
):
    """
    Return ``value`` if ``check(value)`` is true.

    :param accepted: what a valid value looks like, for the error message.
    :raises ConfigError: naming the file, key, value and ``accepted``; a
        long value is cut to its first :data:`MAX_SHOWN` characters.
    """
    if not check(value):
        raise ConfigError(
            f"{path}: invalid {key} {_shown(value)}: must be {accepted}"
        )
    return value


def _shown(value):
    text = repr(value)
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[:MAX_SHOWN]}... ({len(text)} characters)"


def write_atomic(path: Path, value: dict, mode: int = 0o644) -> None:
    """
    Write a JSON object to ``path`` so that readers see the old or the
    new file, never a partial one.

    The data is written to a temporary file with ``mode`` (created with
    that mode, so a secret is never readable by others), fsynced, renamed
    over ``path``, and the directory is fsynced.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n"
    write_atomic_bytes(path, data, mode)
