"""
The Cell's settings, read from ``config/cell.cfg`` (a JSON object) and
created with defaults on the first start.
"""

import ipaddress
import os
import re
from pathlib import Path

import attrs

from nano.config import ConfigError, load, require, write_atomic

CELL_CONFIG_NAME = "cell.cfg"
DEFAULT_URI = "qemu:///system"
DOMAIN_TYPES = ("kvm", "qemu")
#: Nano 1.x's default for the most instances on one Cell.
DEFAULT_INSTANCE_LIMIT = 100
_INTERFACE_NAME = re.compile(r"^[^\s/:]{1,15}$")


@attrs.frozen
class CellSettings:
    """
    The Cell's settings for running its instances.

    :ivar libvirt_uri: the libvirt connection, ``qemu:///system`` by
        default.
    :ivar domain_type: ``kvm`` (hardware virtualisation), or ``qemu``
        (emulation, for hosts where KVM cannot boot guests).
    :ivar storage_directory: where instance volumes live.
    :ivar bridge: the host bridge instance NICs join, or ``None`` for
        instances without a network.
    :ivar vnc_listen: the address instance VNC servers listen on.
    :ivar instance_limit: the most instances the Cell accepts.
    :ivar path: the file the settings came from.
    """

    libvirt_uri: str = DEFAULT_URI
    domain_type: str = "kvm"
    storage_directory: str = "/opt/nano/cell/data/volumes"
    bridge: str | None = None
    vnc_listen: str = "127.0.0.1"
    instance_limit: int = DEFAULT_INSTANCE_LIMIT
    path: Path | None = attrs.field(default=None, eq=False)


def _is_address(value):
    try:
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return False
    return True


_CHECKS = {
    "libvirt_uri": (
        lambda v: isinstance(v, str) and "://" in v,
        "a libvirt URI such as qemu:///system",
    ),
    "domain_type": (lambda v: v in DOMAIN_TYPES, "kvm or qemu"),
    "storage_directory": (
        lambda v: isinstance(v, str) and os.path.isabs(v),
        "an absolute directory path",
    ),
    "bridge": (
        lambda v: (
            v is None
            or (isinstance(v, str) and bool(_INTERFACE_NAME.match(v)))
        ),
        "a bridge interface name of 1 to 15 characters, or null for none",
    ),
    "vnc_listen": (_is_address, "an IP address such as 127.0.0.1"),
    "instance_limit": (
        lambda v: type(v) is int and v >= 1,
        "a whole number, 1 or more",
    ),
}


def load_cell_settings(config_dir, data_dir, **overrides) -> CellSettings:
    """
    Read ``cell.cfg`` from ``config_dir``, creating it with the defaults
    (volumes in ``<data_dir>/volumes``) when it does not exist. A file
    without ``storage_directory`` also keeps volumes there.

    :param overrides: settings from the command line, which win over the
        file but are not written to it; ``None`` values are ignored.
    :raises ConfigError: naming the file, the key, the value and what is
        accepted.
    """
    path = Path(config_dir) / CELL_CONFIG_NAME
    if path.exists():
        loaded = load(path)
    else:
        loaded = _defaults(data_dir)
        write_atomic(path, loaded)
    values = {"storage_directory": _defaults(data_dir)["storage_directory"]}
    values.update(loaded)
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
    return _parse(path, values)


def _defaults(data_dir) -> dict:
    directory = os.path.join(os.path.abspath(data_dir), "volumes")
    value = attrs.asdict(CellSettings(storage_directory=directory))
    del value["path"]
    return value


def _parse(path, values) -> CellSettings:
    settings = {}
    for key, (check, accepted) in _CHECKS.items():
        if key not in values:
            continue
        try:
            settings[key] = require(path, key, values[key], check, accepted)
        except ConfigError as error:
            raise ConfigError(
                f"{error}; edit {path}, or move it away to have the Cell "
                "create one with the defaults"
            ) from None
    return CellSettings(path=path, **settings)
