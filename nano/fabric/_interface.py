"""Find the IPv4 address of the interface that discovery uses (Linux)."""

import fcntl
import ipaddress
import os
import socket
import struct
from pathlib import Path

SIOCGIFADDR = 0x8915
#: Linux interface names are at most 15 bytes (IFNAMSIZ minus the NUL).
MAX_INTERFACE_NAME = 15
RTF_UP = 0x0001
ROUTES = Path("/proc/net/route")

HINT = (
    'set "interface" in config/domain.cfg to an interface name or its '
    "IPv4 address, or give Core's address with --core HOST:PORT"
)


class InterfaceError(Exception):
    """The discovery interface or its address cannot be found."""


def default_route_interface(routes: Path = ROUTES) -> str:
    """
    Return the name of the interface of the IPv4 default route with the
    lowest metric.

    :raises InterfaceError: there is no default route.
    """
    try:
        lines = routes.read_text().splitlines()[1:]
    except OSError as error:
        raise InterfaceError(
            f"cannot read {routes}: {error.strerror}; {HINT}"
        ) from None
    defaults = []
    for line in lines:
        fields = line.split()
        if len(fields) < 7 or fields[1] != "00000000":
            continue
        if int(fields[3], 16) & RTF_UP:
            defaults.append((int(fields[6]), fields[0]))
    if not defaults:
        raise InterfaceError(f"no IPv4 default route; {HINT}")
    return min(defaults)[1]


def valid_interface_name(name) -> bool:
    """
    Return whether ``name`` can be a Linux interface name: 1 to 15 bytes,
    no ``/``, NUL or whitespace, and not ``.`` or ``..``. An address
    label such as ``eth0:1`` is accepted.
    """
    if not isinstance(name, str) or name in (".", ".."):
        return False
    size = len(os.fsencode(name))
    return 0 < size <= MAX_INTERFACE_NAME and not any(
        character in "/\0" or character.isspace() for character in name
    )


def interface_address(name: str) -> str:
    """
    Return the primary IPv4 address of the interface ``name``.

    :raises InterfaceError: the name is invalid, there is no such
        interface, or it has no IPv4 address.
    """
    if not valid_interface_name(name):
        raise InterfaceError(
            f"invalid interface name {name!r}: must be 1 to "
            f"{MAX_INTERFACE_NAME} bytes without '/' or spaces; {HINT}"
        )
    request = struct.pack("256s", os.fsencode(name))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            reply = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, request)
        except OSError as error:
            raise InterfaceError(
                f"interface {name!r} has no IPv4 address "
                f"({error.strerror}); {HINT}"
            ) from None
    return socket.inet_ntoa(reply[20:24])


def resolve_interface(setting: str | None) -> str:
    """
    Return the IPv4 address for the ``interface`` setting: an address is
    used as it is, a name is looked up, and None means the interface of
    the default route.

    :raises InterfaceError: naming the interface and how to set another.
    """
    if setting is None:
        return interface_address(default_route_interface())
    try:
        return str(ipaddress.IPv4Address(setting))
    except ValueError:
        return interface_address(setting)
