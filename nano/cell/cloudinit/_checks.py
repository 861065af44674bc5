"""
Checks of the settings that go into a seed ISO. Each returns the value to
use, or raises :exc:`InvalidSeed` naming the setting, the value and what
is accepted, before anything is written.
"""

import ipaddress
import posixpath
import re

from ._errors import InvalidSeed

DEFAULT_DATA_PATH = "/opt/data"

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# The useradd rule of Debian and RHEL, without the trailing '$' that only
# Samba machine accounts use; 32 is the utmp limit on a user name.
_USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# A data path is written into /etc/fstab and a shell script, so it gets
# no blanks, quotes or other characters those would need escaped.
_PATH = re.compile(r"/[A-Za-z0-9._/-]*")
_MAC = re.compile(r"([0-9a-f]{2}:){5}[0-9a-f]{2}")
_DEVICE = re.compile(r"/dev/[a-z0-9][a-z0-9/_-]*")
# Mounting over these would hide files the guest needs, such as the
# administrator's home directory that cloud-init has just made.
_SYSTEM_DIRECTORIES = frozenset(
    [
        "/",
        "/bin",
        "/boot",
        "/etc",
        "/home",
        "/lib",
        "/lib64",
        "/root",
        "/sbin",
        "/tmp",
        "/usr",
        "/var",
    ]
)
# Kernel and runtime file systems, where nothing may be mounted at all.
_VIRTUAL_TREES = ("/dev", "/proc", "/run", "/sys")
_MAX_PASSWORD = 256


def _invalid(setting, value, accepted):
    return InvalidSeed(f"invalid {setting} {value!r}: {accepted}")


def check_hostname(name):
    """
    Turn an instance name into the guest's host name: drop a ``group.``
    prefix as Nano 1.x does, lower-case it and turn ``_`` into ``-``.

    :raises InvalidSeed: the result is not a host name label (RFC 1123).
    """
    if not isinstance(name, str):
        raise _invalid("hostname", name, "must be a string")
    hostname = name.split(".", 1)[-1].lower().replace("_", "-")
    if not _LABEL.fullmatch(hostname):
        raise _invalid(
            "hostname",
            name,
            "must give a host name of 1 to 63 letters, digits and '-',"
            " not starting or ending with '-' (after any 'group.'"
            " prefix); rename the instance",
        )
    return hostname


def check_admin_name(name):
    """
    Check the administrator's user name against the Linux rules.

    :raises InvalidSeed: it is not 1 to 32 lower-case letters, digits,
        ``_`` or ``-`` starting with a letter or ``_``.
    """
    if not isinstance(name, str) or not _USER_NAME.fullmatch(name):
        raise _invalid(
            "admin_name",
            name,
            "must be a Linux user name: 1 to 32 lower-case letters,"
            " digits, '_' or '-', starting with a letter or '_'",
        )
    return name


def check_admin_secret(secret):
    """
    Check the administrator's password. An empty one means "generate".

    :raises InvalidSeed: not a string, longer than 256 characters, or
        holding a control character such as a newline.
    """
    if not isinstance(secret, str):
        raise InvalidSeed("invalid admin_secret: must be a string")
    if len(secret) > _MAX_PASSWORD:
        raise InvalidSeed(
            f"invalid admin_secret of {len(secret)} characters:"
            f" must be at most {_MAX_PASSWORD}"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in secret):
        raise InvalidSeed(
            "invalid admin_secret: must not contain control characters"
            " such as newlines or tabs"
        )
    return secret


def check_data_path(path):
    """
    Check where the data disks are mounted; empty means ``/opt/data``.

    :raises InvalidSeed: not a normalized absolute path of letters,
        digits, ``.``, ``_``, ``-`` and ``/``, or a system directory.
    """
    if path == "" or path is None:
        return DEFAULT_DATA_PATH
    if not isinstance(path, str) or not _PATH.fullmatch(path):
        raise _invalid(
            "data_path",
            path,
            "must be an absolute path of letters, digits, '.', '_', '-'"
            " and '/', such as /opt/data",
        )
    if posixpath.normpath(path) != path:
        raise _invalid(
            "data_path",
            path,
            f"must be normalized: use {posixpath.normpath(path)!r}",
        )
    if path in _SYSTEM_DIRECTORIES or _is_under(path, _VIRTUAL_TREES):
        raise _invalid(
            "data_path",
            path,
            "must not be a system directory: choose a new directory"
            " such as /opt/data",
        )
    return path


def _is_under(path, trees):
    return any(path == tree or path.startswith(tree + "/") for tree in trees)


def check_mac(mac):
    """Check a MAC address in the ``52:54:00:xx:xx:xx`` form."""
    if not isinstance(mac, str) or not _MAC.fullmatch(mac.lower()):
        raise _invalid(
            "mac",
            mac,
            "must be six two-digit hex numbers separated by ':'",
        )
    return mac.lower()


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
