"""The IPv4 addresses of this host, for the image service certificate."""

import shutil
import subprocess

import orjson

LOOPBACK = "127.0.0.1"


class AddressListError(Exception):
    """This host's IPv4 addresses could not be listed."""


def host_addresses() -> list[str]:
    """
    List every IPv4 address of this host (its current network namespace),
    with ``127.0.0.1`` first, as ``ip -j -4 address show`` reports them.

    :raises AddressListError: ``ip`` (iproute2) is missing or failed.
    """
    command = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin")
    if command is None:
        raise AddressListError(
            "cannot list this host's IPv4 addresses: the ip command is "
            "missing: install iproute2"
        )
    try:
        result = subprocess.run(
            [command, "-j", "-4", "address", "show"],
            capture_output=True,
            check=True,
            timeout=10,
        )
    except (subprocess.SubprocessError, OSError) as error:
        raise AddressListError(
            f"cannot list this host's IPv4 addresses: {command} failed: "
            f"{error}"
        ) from None
    return parse_ip_json(result.stdout)


def parse_ip_json(output: bytes) -> list[str]:
    """
    Return the IPv4 addresses in the output of ``ip -j -4 address show``,
    in order and without duplicates, with ``127.0.0.1`` first.

    :raises AddressListError: the output is not what iproute2 writes.
    """
    try:
        interfaces = orjson.loads(output)
        if not isinstance(interfaces, list):
            raise TypeError(interfaces)
        found = [
            entry["local"]
            for interface in interfaces
            for entry in interface.get("addr_info", [])
            if entry.get("family") == "inet"
        ]
    except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
        raise AddressListError(
            "cannot list this host's IPv4 addresses: unexpected output "
            f"from ip -j -4 address show: {output[:200]!r}"
        ) from None
    return list(dict.fromkeys([LOOPBACK, *found]))
