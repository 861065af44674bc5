"""
Core's API settings, read from ``config/api.cfg`` (a JSON object).

The file has Nano 1.x's shape: ``{"port": 5870, "credentials": [{"id":
..., "key": ...}]}``. Core creates it on its first start with one random
credential, readable by its owner only.
"""

import secrets
from pathlib import Path

import attrs

from nano.config import ConfigError, load, require, write_atomic

API_CONFIG_NAME = "api.cfg"
DEFAULT_PORT = 5870
#: Bytes of randomness in a generated API key (43 URL-safe characters).
KEY_BYTES = 32
_SECRET_MODE = 0o600
_ACCEPTED_CREDENTIALS = (
    'a non-empty list of {"id": "...", "key": "..."} objects'
)


@attrs.frozen
class ApiConfig:
    """
    The API's listening port and credentials.

    :ivar credentials: API key by API id.
    :ivar created: whether this start created the file.
    """

    path: Path
    port: int
    credentials: dict[str, str]
    created: bool = False


def load_api_config(config_dir: Path) -> ApiConfig:
    """
    Read ``api.cfg`` from ``config_dir``, creating it with a random
    credential when it does not exist.

    :raises ConfigError: the file is unreadable or contains invalid values,
        naming the file, the key and what is accepted.
    """
    path = Path(config_dir) / API_CONFIG_NAME
    if not path.exists():
        return _create(path)
    return _parse(path, load(path))


def _create(path: Path) -> ApiConfig:
    credential = {
        "id": f"nano-{secrets.token_hex(4)}",
        "key": secrets.token_urlsafe(KEY_BYTES),
    }
    value = {"port": DEFAULT_PORT, "credentials": [credential]}
    write_atomic(path, value, mode=_SECRET_MODE)
    return ApiConfig(
        path,
        DEFAULT_PORT,
        {credential["id"]: credential["key"]},
        created=True,
    )


def _parse(path: Path, value: dict) -> ApiConfig:
    fix = f"; edit {path}, or move it away to have Core create a new one"
    try:
        port = require(
            path,
            "port",
            value.get("port", DEFAULT_PORT),
            lambda port: type(port) is int and 0 <= port <= 65535,
            "an integer from 0 to 65535",
        )
        credentials = _credentials(path, value.get("credentials"))
    except ConfigError as error:
        raise ConfigError(f"{error}{fix}") from None
    return ApiConfig(path, port, credentials)


def _credentials(path: Path, entries) -> dict[str, str]:
    if not isinstance(entries, list) or not entries:
        raise ConfigError(
            f"{path}: invalid credentials: must be {_ACCEPTED_CREDENTIALS}"
        )
    credentials = {}
    for index, entry in enumerate(entries):
        # The message never echoes the entry, because it contains a key.
        if not _is_credential(entry):
            raise ConfigError(
                f"{path}: invalid credentials[{index}]: must be an object "
                'with exactly a non-empty string "id" and "key"'
            )
        if entry["id"] in credentials:
            raise ConfigError(
                f"{path}: duplicate API id {entry['id']!r} in "
                f"credentials[{index}]"
            )
        credentials[entry["id"]] = entry["key"]
    return credentials


def _is_credential(entry) -> bool:
    return (
        isinstance(entry, dict)
        and set(entry) == {"id", "key"}
        and all(isinstance(entry[name], str) for name in ("id", "key"))
        and all(entry[name].strip() for name in ("id", "key"))
    )
