"""
The files dnsmasq reads (host bindings, DHCP options) and writes (leases),
in dnsmasq 2.90's formats.
"""

import contextlib
import ipaddress
import os
import re
from pathlib import Path

import attrs

from nano.durable import write_atomic_bytes

from ._errors import DhcpError

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_HOSTNAME = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


@attrs.frozen
class Binding:
    """
    One fixed DHCP binding: the MAC address, the IPv4 address it gets, the
    host name offered with it (``None`` for none), and the instance's
    network, router and DNS servers.

    :ivar network: an :class:`ipaddress.IPv4Network`.
    :ivar gateway: the router, or ``None`` for none.
    """

    mac: str
    address: str
    hostname: str | None
    network: ipaddress.IPv4Network
    gateway: str | None = None
    dns: tuple[str, ...] = ()


@attrs.frozen
class Lease:
    """
    One line of dnsmasq's lease file.

    :ivar client_id: the client identifier the guest sent, as
        colon-separated hex, or ``None`` when it sent none.
    """

    mac: str
    address: str
    client_id: str | None


def parse_bindings(bindings, networks, gateway=None, dns=()):
    """
    Check ``{mac: (address, hostname[, network])}`` against the served
    networks and return the bindings in the order given.

    :param bindings: values of two items get the first of ``networks``
        that contains the address, and ``gateway`` and ``dns``. A third
        item is the instance's own network settings, a dict with
        ``prefix``, ``gateway`` and ``dns``.
    :param networks: the :class:`ipaddress.IPv4Network` objects served.
    :raises DhcpError: naming the first invalid MAC, address, host name,
        gateway or DNS server, or an address bound to two MACs.
    """
    parsed = [
        _binding(mac, value, networks, gateway, dns)
        for mac, value in bindings.items()
    ]
    owners = {}
    for binding in parsed:
        other = owners.setdefault(binding.address, binding.mac)
        if other != binding.mac:
            raise DhcpError(
                f"address {binding.address} is bound to both {other} and "
                f"{binding.mac}: give each MAC its own address"
            )
    return parsed


def _binding(mac, value, networks, gateway, dns):
    address, hostname, *own = value
    mac = str(mac).lower()
    if not _MAC.match(mac):
        raise DhcpError(
            f"invalid MAC address {mac!r}: must be six hex bytes such as "
            "52:54:00:12:34:56"
        )
    if own:
        settings = own[0]
        network = _own_network(mac, address, settings, networks)
        gateway, dns = settings.get("gateway"), settings.get("dns") or ()
    else:
        network = _containing(address, networks)
    host = _host_address(address, network)
    if hostname is not None and not _HOSTNAME.match(str(hostname)):
        raise DhcpError(
            f"invalid host name {hostname!r} for {mac}: must be 1 to 63 "
            "letters, digits or hyphens, not starting or ending with one"
        )
    gateway, dns = parse_servers(gateway, dns)
    return Binding(mac, str(host), hostname, network, gateway, dns)


def _own_network(mac, address, settings, networks):
    try:
        interface = ipaddress.IPv4Interface(f"{address}/{settings['prefix']}")
    except (KeyError, TypeError, ValueError):
        raise DhcpError(
            f"invalid network settings for {mac}: address {address!r} with "
            f"prefix {settings.get('prefix')!r}; an instance's network needs "
            "an IPv4 address and a prefix from 1 to 30"
        ) from None
    if interface.network not in networks:
        raise DhcpError(
            f"network {interface.network} of {mac} is not among the DHCP "
            f"ranges {', '.join(map(str, networks))}: serve it as well"
        )
    return interface.network


def _containing(address, networks):
    for network in networks:
        try:
            if ipaddress.IPv4Address(address) in network:
                return network
        except ValueError:
            break
    # _host_address names the fault, for the first network.
    return networks[0]


def _host_address(address, network):
    try:
        host = ipaddress.IPv4Address(address)
    except ValueError:
        raise DhcpError(
            f"invalid IPv4 address {address!r}: use dotted form such as "
            f"{next(network.hosts())}"
        ) from None
    if host not in network or host in (
        network.network_address,
        network.broadcast_address,
    ):
        raise DhcpError(
            f"address {host} is not a host address of the DHCP range "
            f"{network}: bind an address inside it"
        )
    return host


def parse_servers(gateway, dns) -> tuple[str | None, tuple[str, ...]]:
    """
    Check the router and DNS server addresses offered to every binding.

    :raises DhcpError: naming an address that is not IPv4.
    """
    addresses = [gateway] if gateway is not None else []
    addresses.extend(dns)
    for address in addresses:
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            raise DhcpError(
                f"invalid gateway or DNS server {address!r}: must be an "
                "IPv4 address such as 10.213.7.1"
            ) from None
    return gateway, tuple(dns)


def range_tag(index: int) -> str:
    """
    Return the dnsmasq tag that the ``index``-th range (in sorted order)
    sets on its clients, which selects that network's options.
    """
    return f"net{index}"


def network_servers(bindings) -> dict:
    """
    Return ``{network: (gateway, dns)}`` for the networks of
    ``bindings``. Where bindings of one network differ, the last one
    given wins: the Cell lists its instances oldest first, so the
    newest instance's settings, which are its pool's current ones, are
    offered to the whole network.

    NOTE: options are per network, not per binding, because a per-host
    tag (``set:`` in the hosts file) made dnsmasq 2.90 abort with SIGABRT
    when it re-read the file on SIGHUP while a lease existed.
    """
    return {b.network: (b.gateway, b.dns) for b in bindings}


def hosts_text(bindings) -> str:
    """
    Format bindings for ``--dhcp-hostsfile``: one ``mac,address[,name]``
    line each, the same syntax as the value of ``--dhcp-host``.
    """
    lines = []
    for binding in bindings:
        fields = [binding.mac, binding.address]
        if binding.hostname is not None:
            fields.append(binding.hostname)
        lines.append(",".join(fields) + "\n")
    return "".join(lines)


def options_text(networks, servers) -> str:
    """
    Format ``--dhcp-optsfile``: the router and DNS servers of each
    network, for the tag its range sets (:func:`range_tag`). An option
    with no value makes dnsmasq offer none, where it would otherwise
    offer its own address as the router.

    :param networks: the served networks, sorted as their ranges are.
    :param servers: ``{network: (gateway, dns)}``; a network missing
        from it gets neither.
    """
    lines = []
    for index, network in enumerate(networks):
        tag = range_tag(index)
        gateway, dns = servers.get(network, (None, ()))
        router = f",{gateway}" if gateway else ""
        addresses = "".join(f",{address}" for address in dns)
        lines += [
            f"tag:{tag},option:router{router}",
            f"tag:{tag},option:dns-server{addresses}",
        ]
    return "".join(line + "\n" for line in lines)


def make_directory(path: Path) -> None:
    """
    Create ``path`` and its missing parents with mode 0755, set with
    chmod because a daemon's umask (077 under twistd) would otherwise keep
    dnsmasq's unprivileged user out. ``path`` itself gets mode 0755 even
    when it exists, since it holds only dnsmasq's files.
    """
    path = Path(path).absolute()
    missing = []
    for directory in [path, *path.parents]:
        if directory.exists():
            break
        missing.append(directory)
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
        os.chmod(directory, 0o755)
    os.chmod(path, 0o755)


def write_text_atomic(path: Path, text: str) -> None:
    """
    Replace ``path`` so that dnsmasq reads the old or the new file, never a
    partial one: write a temporary file (mode 0644, because dnsmasq reads
    it after dropping root), fsync it, rename it, fsync the directory.
    """
    write_atomic_bytes(path, text.encode("ascii"), 0o644)


def read_leases(path: Path) -> list[Lease]:
    """
    Read dnsmasq's lease file: ``expiry mac address name client-id`` per
    IPv4 lease. Other lines (DHCPv6) are skipped, and a missing file has no
    leases.
    """
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return []
    leases = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and _MAC.match(fields[1].lower()):
            client_id = None if fields[4] == "*" else fields[4]
            leases.append(Lease(fields[1].lower(), fields[2], client_id))
    return leases


def prune_leases(path: Path, bindings) -> list[str]:
    """
    Remove from the lease file every lease that no binding matches, so a
    dnsmasq started afterwards hands a freed address to its new MAC at
    once. Call it only while dnsmasq is not running, because dnsmasq
    rewrites the file from memory.

    :return: the removed lines.
    """
    try:
        lines = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return []
    bound = {(b.mac, b.address) for b in bindings}
    kept, removed = [], []
    for line in lines.splitlines(keepends=True):
        fields = line.split()
        stale = (
            len(fields) >= 5
            and _MAC.match(fields[1].lower())
            and (fields[1].lower(), fields[2]) not in bound
        )
        (removed if stale else kept).append(line)
    if removed:
        write_text_atomic(path, "".join(kept))
    return [line.rstrip("\n") for line in removed]


def stale_leases(leases, bindings) -> list[Lease]:
    """Return the leases whose MAC and address match no binding."""
    bound = {(b.mac, b.address) for b in bindings}
    return [
        lease for lease in leases if (lease.mac, lease.address) not in bound
    ]
