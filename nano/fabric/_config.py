"""
The fabric's settings, read from ``config/domain.cfg`` (a JSON object).

Every key is optional except ``secret``, which Core creates on its first
start (:func:`ensure_secret`) and other hosts receive as a copy of the
file. Times are in seconds.
"""

import ipaddress
import re
import secrets
from pathlib import Path

import attrs

from nano.config import ConfigError, load, require, write_atomic

from ._interface import MAX_INTERFACE_NAME, valid_interface_name

SECRET_BYTES = 32
MIN_SECRET_BYTES = 16

#: Largest UDP payload that fits one Ethernet frame (1500 - 20 - 8).
ETHERNET_DATAGRAM = 1472
#: Largest UDP payload over IPv4 loopback (65535 - 20 - 8).
LOOPBACK_DATAGRAM = 65507
#: Maximum length of a domain name. A PONG for it stays far below the
#: 1024 bytes that discovery accepts, as ``tests/fabric`` checks.
MAX_DOMAIN = 64
_DOMAIN = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_DOMAIN}}}")


def _domain(value):
    return isinstance(value, str) and _DOMAIN.fullmatch(value) is not None


def _positive(value):
    return _number(value) and value > 0


def _number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def _port(value):
    return type(value) is int and 0 <= value <= 65535


def _multicast(value):
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.IPv4Address(value).is_multicast
    except (ipaddress.AddressValueError, ValueError, TypeError):
        return False


def _interface(value):
    return value is None or _address(value) or valid_interface_name(value)


def _address(value):
    if not isinstance(value, str):
        return False
    try:
        ipaddress.IPv4Address(value)
    except (ipaddress.AddressValueError, ValueError, TypeError):
        return False
    return True


def _secret(value):
    if not isinstance(value, str):
        return False
    try:
        return len(bytes.fromhex(value)) >= MIN_SECRET_BYTES
    except ValueError:
        return False


#: key: (default, check, what is accepted)
_KEYS = {
    "domain": (
        "nano",
        _domain,
        f"a name of 1 to {MAX_DOMAIN} ASCII letters, digits, '.', '-' or '_'",
    ),
    "group_address": ("224.0.0.226", _multicast, "an IPv4 multicast address"),
    "group_port": (5599, lambda v: _port(v) and v > 0, "a port 1-65535"),
    "interface": (
        None,
        _interface,
        "null, an IPv4 address or an interface name of 1 to "
        f"{MAX_INTERFACE_NAME} bytes without '/' or spaces",
    ),
    "listen_address": (
        None,
        lambda v: v is None or _address(v),
        "null or an IPv4 address",
    ),
    "listen_port": (0, _port, "a port 0-65535 (0: any free port)"),
    "timeout": (5.0, _positive, "a positive number of seconds"),
    "heartbeat_interval": (3.0, _positive, "a positive number of seconds"),
    "lost_after": (9.0, _positive, "a positive number of seconds"),
    "disconnect_after": (15.0, _positive, "a positive number of seconds"),
    "request_timeout": (10.0, _positive, "a positive number of seconds"),
    "connect_timeout": (10.0, _positive, "a positive number of seconds"),
    "retransmit_initial": (1.0, _positive, "a positive number of seconds"),
    "retransmit_min": (0.2, _positive, "a positive number of seconds"),
    "retransmit_max": (4.0, _positive, "a positive number of seconds"),
    "ack_delay": (0.005, _positive, "a positive number of seconds"),
    "window": (
        512,
        lambda v: type(v) is int and 1 <= v <= 4096,
        "a number of datagrams from 1 to 4096",
    ),
    "max_datagram": (
        0,
        lambda v: type(v) is int and (v == 0 or 512 <= v <= 65507),
        "0 (choose by address) or a size from 512 to 65507 bytes",
    ),
    "socket_buffer": (
        4 * 1024 * 1024,
        lambda v: type(v) is int and v >= 65536,
        "a size of at least 65536 bytes",
    ),
    "max_message": (
        64 * 1024 * 1024,
        lambda v: type(v) is int and v >= 1024,
        "a size of at least 1024 bytes",
    ),
}


@attrs.frozen(kw_only=True)
class FabricConfig:
    """
    Settings for discovery, transport and sessions.

    Build it with :meth:`from_file`, or directly in tests. The defaults
    match the original Nano: domain ``nano`` on 224.0.0.226:5599, a
    heartbeat every 3 s, a peer lost after 9 s of silence and
    disconnected after 15 s.
    """

    secret: bytes = attrs.field(repr=False)
    domain: str = "nano"
    group_address: str = "224.0.0.226"
    group_port: int = 5599
    interface: str | None = None
    listen_address: str | None = None
    listen_port: int = 0
    timeout: float = 5.0
    heartbeat_interval: float = 3.0
    lost_after: float = 9.0
    disconnect_after: float = 15.0
    request_timeout: float = 10.0
    connect_timeout: float = 10.0
    retransmit_initial: float = 1.0
    retransmit_min: float = 0.2
    retransmit_max: float = 4.0
    ack_delay: float = 0.005
    window: int = 512
    max_datagram: int = 0
    max_message: int = 64 * 1024 * 1024
    socket_buffer: int = 4 * 1024 * 1024

    @classmethod
    def from_dict(cls, values: dict, path="<config>") -> "FabricConfig":
        """
        Check and convert the JSON object of ``domain.cfg``.

        Unknown keys are ignored, so that other programs may keep their
        own settings in the same file.

        :raises ConfigError: naming the file, key, value and the fix.
        """
        settings = {}
        for key, (default, check, accepted) in _KEYS.items():
            value = values.get(key, default)
            settings[key] = require(path, key, value, check, accepted)
        if "secret" not in values:
            raise ConfigError(
                f"{path}: missing secret: start Core once to create it, "
                "then copy Core's domain.cfg to this host"
            )
        if not _secret(values["secret"]):
            raise ConfigError(
                f"{path}: invalid secret (value not shown): must be at "
                f"least {MIN_SECRET_BYTES} bytes written as hexadecimal"
            )
        _check_timers(path, settings)
        return cls(secret=bytes.fromhex(values["secret"]), **settings)

    @classmethod
    def from_file(cls, path: Path) -> "FabricConfig":
        """Read ``domain.cfg``; see :meth:`from_dict`."""
        return cls.from_dict(load(path), path)


def _check_timers(path, settings):
    if not (
        settings["heartbeat_interval"]
        < settings["lost_after"]
        <= settings["disconnect_after"]
    ):
        raise ConfigError(
            f"{path}: invalid timers: heartbeat_interval "
            f"({settings['heartbeat_interval']}) must be below lost_after "
            f"({settings['lost_after']}), which must not exceed "
            f"disconnect_after ({settings['disconnect_after']})"
        )
    if not settings["retransmit_min"] <= settings["retransmit_max"]:
        raise ConfigError(
            f"{path}: invalid retransmit_min "
            f"{settings['retransmit_min']}: must not exceed "
            f"retransmit_max ({settings['retransmit_max']})"
        )


def ensure_secret(path: Path) -> bool:
    """
    Add a new random cluster secret to ``domain.cfg`` if it has none.

    Core calls this on start. The file is created if missing, keeps its
    other keys, and is written with mode 0600.

    :return: whether a secret was created.
    :raises ConfigError: the existing file cannot be read.
    """
    values = load(path, missing_ok=True)
    if "secret" in values:
        return False
    values["secret"] = secrets.token_bytes(SECRET_BYTES).hex()
    write_atomic(path, values, mode=0o600)
    return True
