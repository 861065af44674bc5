"""
Checks of the host that dnsmasq needs before it can serve: the bridge
exists with an IPv4 address in the range's network, and dnsmasq's
unprivileged user can read the files it is given.
"""

import array
import fcntl
import ipaddress
import os
import socket
import stat
import struct
from pathlib import Path

from ._errors import DhcpError

_SIOCGIFCONF = 0x8912
# struct ifreq on Linux x86_64 and aarch64: a 16-byte name, then a
# 24-byte union that starts with the sockaddr_in.
_IFREQ_SIZE = 40
_MAX_ADDRESSES = 1024


def ipv4_addresses(interface: str) -> list[ipaddress.IPv4Address] | None:
    """
    Return the IPv4 addresses of ``interface`` in this network namespace,
    or ``None`` when it does not exist.
    """
    try:
        socket.if_nametoindex(interface)
    except OSError:
        return None
    return [address for name, address in _all_addresses() if name == interface]


def _all_addresses():
    size = _IFREQ_SIZE * _MAX_ADDRESSES
    buffer = array.array("B", bytes(size))
    pointer, _ = buffer.buffer_info()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        result = fcntl.ioctl(
            probe.fileno(), _SIOCGIFCONF, struct.pack("iL", size, pointer)
        )
    length = struct.unpack("iL", result)[0]
    data = buffer.tobytes()[:length]
    for offset in range(0, length, _IFREQ_SIZE):
        name = data[offset : offset + 16].split(b"\0", 1)[0].decode()
        packed = data[offset + 20 : offset + 24]
        yield name, ipaddress.IPv4Address(packed)


def server_address(bridge: str, network) -> ipaddress.IPv4Address:
    """
    Return the bridge's address inside ``network``, which dnsmasq serves
    the range from and names as the DHCP server.

    :raises DhcpError: the bridge does not exist, or has no IPv4 address
        in ``network``.
    """
    addresses = ipv4_addresses(bridge)
    if addresses is None:
        raise DhcpError(
            f"bridge {bridge} not found: create it (ip link add {bridge} "
            "type bridge), or set bridge in cell.cfg to an existing one"
        )
    inside = [address for address in addresses if address in network]
    if not inside:
        found = ", ".join(map(str, addresses)) or "none"
        raise DhcpError(
            f"bridge {bridge} has no IPv4 address in the DHCP range "
            f"{network} (it has: {found}): add one, for example ip addr add "
            f"{_example(network)} dev {bridge}"
        )
    return inside[0]


def _example(network):
    return f"{next(network.hosts())}/{network.prefixlen}"


def check_readable(directory: Path) -> None:
    """
    Check that every directory from the root down to ``directory`` lets
    other users pass (mode o+x), because dnsmasq reads the hosts and
    options files as its unprivileged user (``nobody`` on Debian).

    :raises DhcpError: naming the first directory that does not.
    """
    directory = Path(directory).absolute()
    for path in [*reversed(directory.parents), directory]:
        mode = os.stat(path).st_mode
        if not mode & stat.S_IXOTH:
            raise DhcpError(
                f"directory {path} (mode {stat.filemode(mode)}) keeps "
                "dnsmasq's unprivileged user out of the DHCP files in "
                f"{directory}: chmod o+x {path}, or choose a data directory "
                "under one that others can pass"
            )
