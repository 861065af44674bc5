"""Build an instance's NoCloud seed ISO from Core's cloud-init settings."""

import re

import attrs

from . import _checks
from ._documents import meta_data, network_config, user_data
from ._errors import InvalidSeed
from ._iso import write_iso
from ._password import generate_password, hash_password

#: The volume identifier cloud-init's NoCloud data source looks for.
SEED_LABEL = "cidata"

_INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@attrs.frozen(kw_only=True)
class SeedSettings:
    """
    Checked settings for the user-data.

    :ivar hostname: the guest's host name.
    :ivar admin_name: ``root``, whose password is set, a user to add
        with sudo rights, or ``None`` to leave the guest's users alone.
    :ivar password_hash: SHA-512 crypt hash of the admin password, or
        ``None`` without an admin.
    :ivar root_enabled: whether root may log in over SSH with a key,
        the negation of cloud-init's ``disable_root``.
    :ivar data_path: where the data disks' volume is mounted.
    :ivar data_devices: the data disks' device paths in the guest.
    """

    hostname: str
    admin_name: str | None
    password_hash: str | None = attrs.field(repr=False)
    root_enabled: bool
    data_path: str
    data_devices: tuple = ()


def build_seed(path, instance_id, cloud_init, network, mac, data_devices=()):
    """
    Write a NoCloud seed ISO (volume ``cidata``) with meta-data,
    user-data and, when ``network`` has provider ``cloudinit``, a
    network-config with the static address. With any other provider, or
    no network, there is no network-config and the guest uses DHCP.

    This blocks for file I/O and about 50 ms of hashing: call it from a
    thread when the reactor must not wait.

    :param path: the ISO file; replaced atomically when it exists.
    :param instance_id: cloud-init's instance-id; keep it for rebuilds,
        or cloud-init runs its once-per-instance modules again.
    :param cloud_init: ``{"hostname", "admin_name", "admin_secret",
        "root_enabled", "data_path"}``; an empty ``admin_secret`` gets a
        random password and an empty ``data_path`` ``/opt/data``. Only
        ``hostname`` is required: without ``admin_name`` the seed sets
        no user or password.
    :param network: ``{"address", "prefix", "gateway", "dns",
        "provider"}`` or ``None``.
    :param mac: the NIC's MAC address, or ``None`` for no NIC.
    :param data_devices: device paths of the data disks in the guest,
        such as ``["/dev/vdb"]``; none means no data volume.
    :return: the admin password, as given or generated, or ``None``
        without an admin. Only its hash is written into the ISO.
    :raises InvalidSeed: a setting is wrong; nothing was written.
    :raises SeedError: the file could not be written.
    """
    _check_instance_id(instance_id)
    settings, password = _settings(cloud_init, data_devices)
    files = {
        "meta-data": meta_data(instance_id, settings.hostname),
        "user-data": user_data(settings),
    }
    if network is not None and network.get("provider") == "cloudinit":
        static = _checks.check_static_network(network, _optional_mac(mac))
        files["network-config"] = network_config(
            _checks.check_mac(mac), *static
        )
    write_iso(path, SEED_LABEL, _encoded(files))
    return password


def check_seed(instance_id, cloud_init, network, mac, data_devices=()):
    """
    Check the arguments of :func:`build_seed` without writing anything,
    so that a request can be rejected before it is journalled.

    :raises InvalidSeed: naming the first invalid setting.
    """
    _check_instance_id(instance_id)
    if cloud_init is not None:
        _settings(cloud_init, data_devices, hash_password=lambda _: "")
    if network is not None and network.get("provider") == "cloudinit":
        _checks.check_static_network(network, _optional_mac(mac))


def _check_instance_id(instance_id):
    if not isinstance(instance_id, str) or not _INSTANCE_ID.fullmatch(
        instance_id
    ):
        raise InvalidSeed(
            f"invalid instance_id {instance_id!r}: must be 1 to 128"
            " letters, digits, '.', '_' or '-', such as a UUID"
        )


def _optional_mac(mac):
    return None if mac is None else _checks.check_mac(mac)


def _settings(cloud_init, data_devices, hash_password=hash_password):
    if not isinstance(cloud_init, dict):
        raise InvalidSeed(
            f"invalid cloud_init {cloud_init!r}: must be an object"
        )
    root_enabled = cloud_init.get("root_enabled", True)
    if not isinstance(root_enabled, bool):
        raise InvalidSeed(
            f"invalid root_enabled {root_enabled!r}: must be true or false"
        )
    admin_name, password, password_hash = _admin(cloud_init, hash_password)
    settings = SeedSettings(
        hostname=_checks.check_hostname(cloud_init.get("hostname")),
        admin_name=admin_name,
        password_hash=password_hash,
        root_enabled=root_enabled,
        data_path=_checks.check_data_path(cloud_init.get("data_path")),
        data_devices=tuple(_checks.check_devices(data_devices)),
    )
    return settings, password


def _admin(cloud_init, hash_password):
    if "admin_name" not in cloud_init:
        return None, None, None
    name = _checks.check_admin_name(cloud_init["admin_name"])
    password = _checks.check_admin_secret(cloud_init.get("admin_secret", ""))
    password = password or generate_password()
    return name, password, hash_password(password)


def _encoded(files):
    return {name: text.encode("utf-8") for name, text in files.items()}
