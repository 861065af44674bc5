"""
Seed ISOs built by :func:`nano.cell.cloudinit.build_seed`, read back with
pycdlib, and with isoinfo and blkid where they are installed.
"""

import ipaddress
import os
import shutil
import stat
import subprocess

import pytest
import yaml
from passlib.hash import sha512_crypt

from nano.cell.cloudinit import SEED_LABEL, InvalidSeed, build_seed, check_seed

from .seed_helpers import (
    DHCP,
    INSTANCE_ID,
    MAC,
    STATIC,
    cloud_init,
    isoinfo,
    parse_user_data,
    read_with_isoinfo,
    read_with_pycdlib,
)


@pytest.fixture
def seed(tmp_path):
    """Path of a seed ISO in an empty directory."""
    return tmp_path / f"{INSTANCE_ID}_ci.iso"


def build(seed, settings=None, network=STATIC, mac=MAC, devices=()):
    """Build ``seed`` and return (password, files read with pycdlib)."""
    password = build_seed(
        seed, INSTANCE_ID, settings or cloud_init(), network, mac, devices
    )
    label, files = read_with_pycdlib(seed)
    assert label == SEED_LABEL
    return password, files


def test_label_is_cidata(seed):
    """The primary and Joliet volume identifiers are both cidata."""
    build(seed)
    label, _ = read_with_pycdlib(seed)
    assert label == "cidata"
    if shutil.which("blkid") is None:
        pytest.skip("blkid is not installed")
    shown = subprocess.run(
        ["blkid", "-p", "-o", "value", "-s", "LABEL", str(seed)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert shown.stdout.strip() == "cidata"


def test_meta_data(seed):
    """meta-data contains the instance id and the name without its group."""
    _, files = build(seed)
    meta = yaml.safe_load(files["meta-data"])
    assert meta == {"instance-id": INSTANCE_ID, "local-hostname": "web-01"}


def test_user_data_new_admin(seed):
    """A named admin is a new user with a hash of the password and sudo."""
    password, files = build(seed)
    config = parse_user_data(files["user-data"])
    assert password == "Secret-42 pass"
    assert config["hostname"] == "web-01"
    assert config["preserve_hostname"] is False
    assert config["disable_root"] is True
    assert config["ssh_pwauth"] is True
    assert "chpasswd" not in config
    [user] = config["users"]
    assert user["name"] == "nano"
    assert user["lock_passwd"] is False
    assert user["sudo"] == "ALL=(ALL) ALL"
    assert user["hashed_passwd"].startswith("$6$rounds=")
    assert sha512_crypt.verify("Secret-42 pass", user["hashed_passwd"])


def test_user_data_root_admin(seed):
    """Root's password is set through chpasswd, in both of its forms."""
    settings = cloud_init(admin_name="root", root_enabled=True)
    _, files = build(seed, settings)
    config = parse_user_data(files["user-data"])
    assert config["disable_root"] is False
    assert "users" not in config
    chpasswd = config["chpasswd"]
    assert chpasswd["expire"] is False
    [entry] = chpasswd["users"]
    assert entry["name"] == "root"
    assert entry["type"] == "hash"
    assert chpasswd["list"] == [f"root:{entry['password']}"]
    assert sha512_crypt.verify("Secret-42 pass", entry["password"])


def test_hash_matches_openssl(seed):
    """openssl, an independent SHA-512 crypt, gives the same hash."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    _, files = build(seed)
    [user] = parse_user_data(files["user-data"])["users"]
    salt = user["hashed_passwd"].rsplit("$", 1)[0].removeprefix("$6$")
    result = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
        input="Secret-42 pass",
        check=True,
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == user["hashed_passwd"]


def test_plain_password_not_written(seed):
    """No file of the ISO contains the password itself."""
    _, files = build(seed)
    raw = seed.read_bytes()
    assert b"Secret-42 pass" not in raw
    for data in files.values():
        assert b"Secret-42" not in data


def test_random_password(seed, tmp_path):
    """An empty admin_secret gets a random 12-character password."""
    first, files = build(seed, cloud_init(admin_secret=""))
    second = build_seed(
        tmp_path / "other.iso",
        INSTANCE_ID,
        cloud_init(admin_secret=""),
        None,
        MAC,
    )
    [user] = parse_user_data(files["user-data"])["users"]
    assert len(first) == 12
    assert first.isalnum()
    assert first != second
    assert sha512_crypt.verify(first, user["hashed_passwd"])


def test_root_disk_growth(seed):
    """growpart and resize_rootfs grow /, and a script handles LVM roots."""
    _, files = build(seed)
    config = parse_user_data(files["user-data"])
    assert config["growpart"] == {"mode": "auto", "devices": ["/"]}
    assert config["resize_rootfs"] is True
    [grow] = config["runcmd"]
    assert grow[:2] == ["sh", "-ec"]
    assert "pvresize" in grow[2]
    assert "lvextend -r" in grow[2]


def test_data_disks_lvm(seed):
    """Data disks become one LVM volume mounted at data_path."""
    settings = cloud_init(data_path="/srv/data")
    _, files = build(seed, settings, devices=["/dev/vdb", "/dev/vdc"])
    config = parse_user_data(files["user-data"])
    [_, disks] = config["runcmd"]
    script = disks[2]
    assert "pvcreate /dev/vdb /dev/vdc" in script
    assert 'vgcreate "$group" /dev/vdb /dev/vdc' in script
    assert "mount_point=/srv/data\n" in script
    assert "mkfs.ext4 -q /dev/nano_data/data" in script


def test_data_path_default(seed):
    """An empty data_path mounts the data volume at /opt/data."""
    settings = cloud_init(data_path="")
    _, files = build(seed, settings, devices=["/dev/sdb"])
    [_, disks] = parse_user_data(files["user-data"])["runcmd"]
    assert "mount_point=/opt/data\n" in disks[2]


def test_scripts_parse_in_sh(seed):
    """sh -n finds no syntax error in the scripts the guest runs."""
    _, files = build(seed, devices=["/dev/vdb"])
    for command in parse_user_data(files["user-data"])["runcmd"]:
        checked = subprocess.run(
            ["sh", "-n", "-c", command[2]], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr


def test_network_config_static(seed):
    """Provider cloudinit writes the address, route and DNS by MAC."""
    _, files = build(seed, network=STATIC)
    config = yaml.safe_load(files["network-config"])
    assert config["version"] == 2
    [nic] = config["ethernets"].values()
    assert nic["match"] == {"macaddress": MAC}
    assert nic["dhcp4"] is False
    assert nic["addresses"] == ["10.213.7.10/24"]
    assert nic["routes"] == [{"to": "0.0.0.0/0", "via": "10.213.7.1"}]
    assert nic["nameservers"] == {"addresses": ["10.213.7.1", "10.213.8.1"]}


def test_network_config_without_gateway(seed):
    """A static address with no gateway and no DNS gets no route."""
    network = dict(STATIC, gateway=None, dns=[])
    _, files = build(seed, network=network)
    [nic] = yaml.safe_load(files["network-config"])["ethernets"].values()
    assert "routes" not in nic
    assert "nameservers" not in nic
    assert ipaddress.IPv4Interface(nic["addresses"][0]).ip == (
        ipaddress.IPv4Address("10.213.7.10")
    )


def test_dhcp_has_no_network_config(seed):
    """Provider dhcp, or no network, leaves networking to DHCP."""
    _, files = build(seed, network=DHCP)
    assert set(files) == {"meta-data", "user-data"}
    _, files = build(seed, network=None, mac=None)
    assert set(files) == {"meta-data", "user-data"}


def test_rebuild_new_password(seed):
    """A rebuild changes user-data and keeps the instance-id."""
    _, before = build(seed)
    _, after = build(seed, cloud_init(admin_secret="Another-7"))
    assert after["meta-data"] == before["meta-data"]
    assert after["user-data"] != before["user-data"]
    [user] = parse_user_data(after["user-data"])["users"]
    assert sha512_crypt.verify("Another-7", user["hashed_passwd"])
    assert not sha512_crypt.verify("Secret-42 pass", user["hashed_passwd"])
    leftovers = [p.name for p in seed.parent.iterdir() if p != seed]
    assert leftovers == []


def test_file_mode_readable(seed):
    """The ISO is readable by QEMU's user when libvirt does not relabel."""
    build(seed)
    assert stat.S_IMODE(os.stat(seed).st_mode) == 0o644


def test_isoinfo_reads_same_files(seed):
    """isoinfo, which shares no code with pycdlib, reads the same seed."""
    if isoinfo() is None:
        pytest.skip("isoinfo is not installed (Debian package genisoimage)")
    _, expected = build(seed, devices=["/dev/vdb"])
    label, files = read_with_isoinfo(seed)
    assert label == "cidata"
    assert files == expected
    assert set(files) == {"meta-data", "user-data", "network-config"}


def test_seed_without_admin(seed):
    """With only a host name, the seed sets no user or password."""
    password, files = build(seed, {"hostname": "db"}, network=STATIC)
    config = parse_user_data(files["user-data"])
    assert password is None
    assert config["hostname"] == "db"
    assert "users" not in config
    assert "chpasswd" not in config
    assert "network-config" in files


def test_check_seed_writes_nothing(tmp_path):
    """check_seed accepts what build_seed accepts, and writes nothing."""
    check_seed(INSTANCE_ID, cloud_init(), STATIC, MAC, ["/dev/vdb"])
    check_seed(INSTANCE_ID, None, STATIC, MAC)
    with pytest.raises(InvalidSeed) as caught:
        check_seed(INSTANCE_ID, cloud_init(admin_name="X"), None, MAC)
    assert "invalid admin_name 'X'" in str(caught.value)
    with pytest.raises(InvalidSeed) as caught:
        check_seed(INSTANCE_ID, None, STATIC, None)
    assert "needs the instance's MAC address" in str(caught.value)
    assert list(tmp_path.iterdir()) == []
