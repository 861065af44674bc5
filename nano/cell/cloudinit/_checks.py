"""
Checks of the settings that go into a seed ISO. Each returns the value to
use, or raises :exc:`InvalidSeed` naming the setting, the value and what
is accepted, before anything is written.
"""

import ipaddress
import re

from nano import guest_rules

from ._errors import InvalidSeed

DEFAULT_DATA_PATH = guest_rules.DEFAULT_DATA_PATH
_DEVICE = re.compile(r"/dev/[a-z0-9][a-z0-9/_-]*")


def _invalid(setting, value, accepted):
    return InvalidSeed(f"invalid {setting} {value!r}: {accepted}")


def _shared(check):
    """
    Wrap a check of :mod:`nano.guest_rules`, which Core runs too, so that
    it raises :exc:`InvalidSeed`.
    """

    def checked(value):
        try:
            return check(value)
        except guest_rules.InvalidGuestSetting as error:
            raise InvalidSeed(error.message) from None

    checked.__doc__ = check.__doc__
    return checked


check_hostname = _shared(guest_rules.check_hostname)
check_admin_name = _shared(guest_rules.check_admin_name)
check_admin_secret = _shared(guest_rules.check_admin_secret)
check_data_path = _shared(guest_rules.check_data_path)
check_mac = _shared(guest_rules.check_mac)


def check_devices(devices):
    """Check the guest device paths of the data disks, such as /dev/vdb."""
    for device in devices:
        if not isinstance(device, str) or not _DEVICE.fullmatch(device):
            raise _invalid(
                "data device", device, "must be a path such as /dev/vdb"
            )
    if len(set(devices)) != len(devices):
        raise _invalid("data devices", list(devices), "must be distinct")
    return list(devices)


def check_static_network(network, mac):
    """
    Check a static address for the guest. The address must lie in its
    network and not be that network's own or broadcast address, the
    gateway must lie in the same network, and a MAC must name the NIC.

    :return: ``(interface, gateway, dns)``: an
        :class:`ipaddress.IPv4Interface`, an address string or ``None``,
        and a list of address strings.
    """
    if mac is None:
        raise InvalidSeed(
            "invalid network: provider 'cloudinit' needs the instance's"
            " MAC address to match its NIC; create the instance with a NIC"
        )
    interface = _interface(network.get("address"), network.get("prefix"))
    gateway = _gateway(network.get("gateway"), interface)
    dns = network.get("dns") or []
    for server in dns:
        _address("network.dns", server)
    return interface, gateway, list(dns)


def _address(setting, value):
    try:
        return ipaddress.IPv4Address(value)
    except (ValueError, TypeError):
        raise _invalid(setting, value, "must be an IPv4 address") from None


def _interface(address, prefix):
    address = _address("network.address", address)
    if not isinstance(prefix, int) or not 1 <= prefix <= 32:
        raise _invalid("network.prefix", prefix, "must be from 1 to 32")
    interface = ipaddress.IPv4Interface(f"{address}/{prefix}")
    subnet = interface.network
    if prefix < 31 and address in (
        subnet.network_address,
        subnet.broadcast_address,
    ):
        raise _invalid(
            "network.address",
            str(address),
            f"is the network or broadcast address of {subnet}:"
            " choose a host address",
        )
    return interface


def _gateway(gateway, interface):
    if gateway is None:
        return None
    address = _address("network.gateway", gateway)
    if address not in interface.network:
        raise _invalid(
            "network.gateway",
            gateway,
            f"must lie in the instance's network {interface.network}",
        )
    if address == interface.ip:
        raise _invalid(
            "network.gateway", gateway, "must differ from the address"
        )
    return str(address)
