"""
The three NoCloud documents of a seed: meta-data, user-data
(``#cloud-config``) and network-config (version 2), as YAML text.
"""

import yaml

from ._scripts import GROW_LVM_ROOT, data_disks_script

_CLOUD_CONFIG_HEADER = "#cloud-config\n"


class _Dumper(yaml.SafeDumper):
    """A safe dumper that writes multi-line strings as literal blocks."""


def _represent_text(dumper, text):
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def _dump(document):
    return yaml.dump(
        document,
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=False,
        width=1000,
    )


def meta_data(instance_id, hostname):
    """Return the meta-data: the instance id and the host name."""
    return _dump({"instance-id": instance_id, "local-hostname": hostname})


def user_data(settings):
    """
    Return the user-data for a :class:`SeedSettings`: host name, the
    administrator and password hash, SSH password login, root disk
    growth and, with data disks, their LVM volume.
    """
    config = {
        "hostname": settings.hostname,
        "preserve_hostname": False,
        "manage_etc_hosts": True,
        "disable_root": not settings.root_enabled,
        "ssh_pwauth": True,
    }
    if settings.admin_name is not None:
        config.update(_admin(settings.admin_name, settings.password_hash))
    config["growpart"] = {"mode": "auto", "devices": ["/"]}
    config["resize_rootfs"] = True
    config["runcmd"] = _commands(settings)
    return _CLOUD_CONFIG_HEADER + _dump(config)


def replace_admin(text, name, password_hash):
    """
    Return user-data ``text`` with another administrator or password
    hash, and every other setting as it was.
    """
    config = yaml.safe_load(text)
    config.pop("users", None)
    config.pop("chpasswd", None)
    replaced = {}
    for key, value in config.items():
        replaced[key] = value
        if key == "ssh_pwauth":
            replaced.update(_admin(name, password_hash))
    return _CLOUD_CONFIG_HEADER + _dump(replaced)


def admin_of(text):
    """
    Return ``(admin name, password hash)`` of user-data ``text``, or
    ``(None, None)`` when it sets no administrator.
    """
    config = yaml.safe_load(text)
    if "users" in config:
        [user] = config["users"]
        return user["name"], user["hashed_passwd"]
    if "chpasswd" in config:
        [entry] = config["chpasswd"]["users"]
        return entry["name"], entry["password"]
    return None, None


def _admin(name, password_hash):
    if name == "root":
        # cloud-init 22.3 and later read chpasswd.users, and still read
        # the deprecated chpasswd.list that older releases need. Both
        # set the same hash, so old and new releases work.
        return {
            "chpasswd": {
                "expire": False,
                "users": [
                    {"name": "root", "password": password_hash, "type": "hash"}
                ],
                "list": [f"root:{password_hash}"],
            }
        }
    # The sudo rule rather than a "sudo" or "wheel" group, because the
    # administrators' group has a different name on each distribution.
    user = {
        "name": name,
        "shell": "/bin/bash",
        "lock_passwd": False,
        "hashed_passwd": password_hash,
        "sudo": "ALL=(ALL) ALL",
    }
    return {"users": [user]}


def _commands(settings):
    commands = [["sh", "-ec", GROW_LVM_ROOT, "nano-grow-root"]]
    if settings.data_devices:
        script = data_disks_script(settings.data_devices, settings.data_path)
        commands.append(["sh", "-ec", script, "nano-data-disks"])
    return commands


def network_config(mac, interface, gateway, dns):
    """
    Return a version 2 network-config giving the NIC with ``mac`` a
    static address.

    :param interface: an :class:`ipaddress.IPv4Interface`.
    :param gateway: the default route's address, or ``None`` for none.
    :param dns: name server addresses, possibly empty.
    """
    ethernet = {
        "match": {"macaddress": mac},
        "dhcp4": False,
        "addresses": [str(interface)],
    }
    if gateway is not None:
        ethernet["routes"] = [{"to": "0.0.0.0/0", "via": gateway}]
    if dns:
        ethernet["nameservers"] = {"addresses": list(dns)}
    return _dump({"version": 2, "ethernets": {"nic0": ethernet}})
