"""
The ``nano`` client's API address and credentials, taken from command
options first, then environment variables, then Core's ``api.cfg``.
"""

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import attrs

DEFAULT_CONFIG = Path("/opt/nano/core/config/api.cfg")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5870
ENV_API = "NANO_API"
ENV_API_ID = "NANO_API_ID"
ENV_API_KEY = "NANO_API_KEY"
ENV_CONFIG = "NANO_CONFIG"


class SettingsError(Exception):
    """The API address or credentials are missing or invalid."""


@attrs.frozen
class ApiSettings:
    """
    How to reach Core's API.

    :ivar host: Core's API host name or IP address.
    :ivar port: Core's API TCP port.
    :ivar api_id: the id of an API credential.
    :ivar api_key: the key of that credential.
    """

    host: str
    port: int
    api_id: str
    api_key: str = attrs.field(repr=False)

    @property
    def url(self) -> str:
        """The API's base URL, for messages."""
        return f"http://{self.host}:{self.port}"


def parse_address(value: str) -> tuple[str, int]:
    """
    Parse ``http://HOST:PORT``, ``HOST:PORT`` or ``HOST`` into a host and
    a port (5870 when none is given).

    :raises SettingsError: naming the value and the accepted forms.
    """
    text = value if "://" in value else f"http://{value}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme != "http" or not parts.hostname:
        raise SettingsError(
            f"invalid API address {value!r}: expected HOST:PORT or "
            "http://HOST:PORT, e.g. 127.0.0.1:5870"
        )
    if parts.path.strip("/") not in ("", "api/v1"):
        raise SettingsError(
            f"invalid API address {value!r}: give Core's address without a "
            "path, e.g. http://127.0.0.1:5870"
        )
    if port == 0:
        raise SettingsError(
            f"invalid API address {value!r}: port 0 cannot be connected "
            "to; give the port that Core's API listens on, 1 to 65535"
        )
    return parts.hostname, DEFAULT_PORT if port is None else port


def _read_config(path: Path) -> dict:
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except PermissionError:
        raise SettingsError(
            f"cannot read {path}: permission denied; run as root, or set "
            f"{ENV_API_ID} and {ENV_API_KEY}"
        ) from None
    except (OSError, ValueError) as error:
        raise SettingsError(f"cannot read {path}: {error}") from None
    if not isinstance(config, dict):
        raise SettingsError(
            f"invalid {path}: expected a JSON object with port and "
            "credentials, as Core writes it"
        )
    return config


def _config_values(config: dict, path: Path) -> dict:
    values = {}
    port = config.get("port")
    if port is not None:
        if type(port) is not int or not 0 < port <= 65535:
            raise SettingsError(
                f"invalid port {port!r} in {path}: must be 1 to 65535"
            )
        values["port"] = port
    credentials = config.get("credentials")
    if credentials:
        first = credentials[0]
        if not isinstance(first, dict) or not all(
            isinstance(first.get(name), str) for name in ("id", "key")
        ):
            raise SettingsError(
                f"invalid credentials in {path}: expected "
                '[{"id": "...", "key": "..."}]'
            )
        values["api_id"], values["api_key"] = first["id"], first["key"]
    return values


def resolve(
    api=None, api_id=None, api_key=None, config=None, environ=None
) -> ApiSettings:
    """
    Resolve the API settings: each given argument wins, then the
    environment (``NANO_API``, ``NANO_API_ID``, ``NANO_API_KEY``,
    ``NANO_CONFIG``), then Core's ``api.cfg`` (its port and first
    credential).

    :raises SettingsError: naming what is missing or invalid and how to
        set it.
    """
    environ = os.environ if environ is None else environ
    api = api or environ.get(ENV_API)
    api_id = api_id or environ.get(ENV_API_ID)
    api_key = api_key or environ.get(ENV_API_KEY)
    path = Path(config or environ.get(ENV_CONFIG) or DEFAULT_CONFIG)
    from_file = {}
    if not (api and api_id and api_key):
        from_file = _config_values(_read_config(path), path)

    if api:
        host, port = parse_address(api)
    else:
        host, port = DEFAULT_HOST, from_file.get("port", DEFAULT_PORT)
    api_id = api_id or from_file.get("api_id")
    api_key = api_key or from_file.get("api_key")
    if not (api_id and api_key):
        raise SettingsError(
            f"no API credentials: set {ENV_API_ID} and {ENV_API_KEY} (or "
            f"--api-id and --api-key), or point --config or {ENV_CONFIG} at "
            f"Core's api.cfg ({path} has none)"
        )
    return ApiSettings(host, port, api_id, api_key)
