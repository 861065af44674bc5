"""
DHCPRELEASE (RFC 2131) sent to our own dnsmasq, which is the only way to
drop one lease from a running dnsmasq: otherwise it keeps a removed
binding's address for the old MAC until the lease expires.
"""

import ipaddress
import os
import socket
import struct

_BOOTREQUEST = 1
_ETHERNET = 1
_MAGIC_COOKIE = b"\x63\x82\x53\x63"
_MESSAGE_TYPE, _RELEASE = 53, 7
_SERVER_ID = 54
_CLIENT_ID = 61
_END = 255
_SERVER_PORT = 67


def release_packet(lease, server) -> bytes:
    """
    Build the DHCPRELEASE a guest would send for ``lease``: dnsmasq
    matches it by client id when the lease has one, else by MAC, and
    checks the server identifier.
    """
    mac = bytes.fromhex(lease.mac.replace(":", ""))
    header = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        _BOOTREQUEST,
        _ETHERNET,
        len(mac),
        0,
        int.from_bytes(os.urandom(4), "big"),
        0,
        0,
        ipaddress.IPv4Address(lease.address).packed,
        bytes(4),
        bytes(4),
        bytes(4),
        mac,
        b"",
        b"",
    )
    options = _MAGIC_COOKIE + bytes([_MESSAGE_TYPE, 1, _RELEASE])
    options += bytes([_SERVER_ID, 4]) + ipaddress.IPv4Address(server).packed
    if lease.client_id is not None:
        client_id = bytes.fromhex(lease.client_id.replace(":", ""))
        options += bytes([_CLIENT_ID, len(client_id)]) + client_id
    return header + options + bytes([_END])


def send_release(bridge, server, lease) -> None:
    """
    Send a DHCPRELEASE for ``lease`` to dnsmasq at ``server`` (the Cell's
    own address on ``bridge``), so it never leaves the host.

    :raises OSError: the packet could not be sent.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.setsockopt(
            socket.SOL_SOCKET, socket.SO_BINDTODEVICE, bridge.encode()
        )
        sender.sendto(
            release_packet(lease, server), (str(server), _SERVER_PORT)
        )
