"""
Rules for the guest settings that end up inside a guest: its host name,
administrator, password, data disk mount point and MAC address.

Core checks them when a client creates or changes a guest. The Cell's
seed ISO checks call these same functions, so a setting that Core accepts
passes there too.
Each check returns the value to use or raises :exc:`InvalidGuestSetting`.
"""

import posixpath
import re
import unicodedata

#: The mount point of the data disks when ``data_path`` is left out.
DEFAULT_DATA_PATH = "/opt/data"
MAX_PASSWORD = 256

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# The useradd rule of Debian and RHEL, without the trailing '$' that only
# Samba machine accounts use; 32 is the utmp limit on a user name.
_USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# A data path is written into /etc/fstab and a shell script, so it gets
# no blanks, quotes or other characters those would need escaped.
_PATH = re.compile(r"/[A-Za-z0-9._/-]*")
_MAC = re.compile(r"([0-9a-f]{2}:){5}[0-9a-f]{2}")
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

USER_RULE = (
    "must be a Linux user name: 1 to 32 lower-case letters, digits, '_' "
    "or '-', starting with a letter or '_'"
)


class InvalidGuestSetting(ValueError):
    """
    A guest setting breaks its rule.

    :param setting: the setting's name, such as ``admin_name``.
    :param message: the whole message: the value and what is accepted.
    """

    def __init__(self, setting, message):
        super().__init__(message)
        self.setting = setting
        self.message = message


def _invalid(setting, value, accepted):
    return InvalidGuestSetting(
        setting, f"invalid {setting} {value!r}: {accepted}"
    )


def check_hostname(name):
    """
    Turn an instance name into the guest's host name: drop a ``group.``
    prefix as Nano 1.x does, lower-case it and turn ``_`` into ``-``.

    :raises InvalidGuestSetting: the result is not a host name label
        (RFC 1123).
    """
    if not isinstance(name, str):
        raise _invalid("hostname", name, "must be a string")
    hostname = name.split(".", 1)[-1].lower().replace("_", "-")
    if not _LABEL.fullmatch(hostname):
        raise _invalid(
            "hostname",
            name,
            "must give a host name of 1 to 63 letters, digits and '-', "
            "not starting or ending with '-' and without '.' (after any "
            "'group.' prefix); rename the instance",
        )
    return hostname


def check_admin_name(name, setting="admin_name"):
    """
    Check the administrator's user name against the Linux rules.

    :param setting: the name of the field, for the message.

    :raises InvalidGuestSetting: naming the value and :data:`USER_RULE`.
    """
    if not isinstance(name, str) or not _USER_NAME.fullmatch(name):
        raise _invalid(setting, name, USER_RULE)
    return name


def check_admin_secret(secret, setting="admin_secret"):
    """
    Check the characters of the administrator's password: at most 256,
    and no control characters (Unicode category Cc: C0, DEL and C1, such
    as a newline or U+0085), which would break the seed's YAML and the
    guest's password tools. An empty one passes; the caller decides
    whether that means a random one or is an error.

    :param setting: the name of the field, for the message.
    :raises InvalidGuestSetting: with a message that does not show the
        password.
    """
    if not isinstance(secret, str):
        raise InvalidGuestSetting(
            setting, f"invalid {setting}: must be a string"
        )
    if len(secret) > MAX_PASSWORD:
        raise InvalidGuestSetting(
            setting,
            f"invalid {setting} of {len(secret)} characters: must be at "
            f"most {MAX_PASSWORD}",
        )
    if any(unicodedata.category(c) == "Cc" for c in secret):
        raise InvalidGuestSetting(
            setting,
            f"invalid {setting}: must not contain control characters "
            "such as newlines, tabs or U+0085",
        )
    return secret


def check_data_path(path, setting="data_path"):
    """
    Check where the data disks are mounted; empty means ``/opt/data``.

    :param setting: the name of the field, for the message.

    :raises InvalidGuestSetting: not a normalized absolute path of
        letters, digits, ``.``, ``_``, ``-`` and ``/``, or a system
        directory.
    """
    if path == "" or path is None:
        return DEFAULT_DATA_PATH
    if not isinstance(path, str) or not _PATH.fullmatch(path):
        raise _invalid(
            setting,
            path,
            "must be an absolute path of letters, digits, '.', '_', '-' "
            "and '/', such as /opt/data",
        )
    if posixpath.normpath(path) != path:
        raise _invalid(
            setting,
            path,
            f"must be normalized: use {posixpath.normpath(path)!r}",
        )
    if path in _SYSTEM_DIRECTORIES or _is_under(path, _VIRTUAL_TREES):
        raise _invalid(
            setting,
            path,
            "must not be a system directory: choose a new directory such "
            "as /opt/data",
        )
    return path


def _is_under(path, trees):
    return any(path == tree or path.startswith(tree + "/") for tree in trees)


def check_mac(mac, setting="mac"):
    """
    Check a NIC's MAC address and return it in lower case. It must be
    unicast (the lowest bit of the first byte clear) and not all zero.

    :param setting: the name of the field, for the message.

    :raises InvalidGuestSetting: naming the value.
    """
    if not isinstance(mac, str) or not _MAC.fullmatch(mac.lower()):
        raise _invalid(
            setting,
            mac,
            "must be six two-digit hex numbers separated by ':', such as "
            "52:54:00:12:34:56",
        )
    mac = mac.lower()
    if int(mac[:2], 16) & 1:
        raise _invalid(
            setting,
            mac,
            "is a multicast or broadcast address: a NIC needs a unicast "
            "one, such as 52:54:00:12:34:56",
        )
    if mac == "00:00:00:00:00:00":
        raise _invalid(
            setting, mac, "is all zero: use one such as 52:54:00:12:34:56"
        )
    return mac
