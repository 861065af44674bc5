"""
Settings that :func:`nano.cell.cloudinit.build_seed` rejects, and files
it cannot write: each gives a clear error and leaves no file behind.
"""

import os
import subprocess

import pytest

from nano.cell.cloudinit import InvalidSeed, SeedError, build_seed

from .seed_helpers import INSTANCE_ID, MAC, STATIC, cloud_init


def reject(tmp_path, message, **arguments):
    """Build with ``arguments`` and check the error and that no file exists."""
    values = {
        "instance_id": INSTANCE_ID,
        "cloud_init": cloud_init(),
        "network": STATIC,
        "mac": MAC,
    }
    values.update(arguments)
    path = tmp_path / "seed.iso"
    with pytest.raises(InvalidSeed) as caught:
        build_seed(path, **values)
    assert message in str(caught.value)
    assert list(tmp_path.iterdir()) == []
    return str(caught.value)


@pytest.mark.parametrize(
    ("hostname", "message"),
    [
        ("web 01", "invalid hostname 'web 01': must give a host name"),
        ("-web", "not starting or ending with '-'"),
        ("ops.", "invalid hostname 'ops.'"),
        ("x" * 64, "1 to 63 letters"),
        ("wéb", "invalid hostname 'wéb'"),
        (None, "invalid hostname None: must be a string"),
    ],
)
def test_hostname_rejected(tmp_path, hostname, message):
    """Names that give no valid host name are rejected with the value."""
    reject(tmp_path, message, cloud_init=cloud_init(hostname=hostname))


@pytest.mark.parametrize(
    "name", ["Admin", "1admin", "ad min", "a" * 33, "", "adm$", None]
)
def test_admin_name_rejected(tmp_path, name):
    """The admin name must follow the Linux user name rules."""
    error = reject(
        tmp_path,
        "must be a Linux user name",
        cloud_init=cloud_init(admin_name=name),
    )
    assert error.startswith(f"invalid admin_name {name!r}")


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("two\nlines", "must not contain control characters"),
        ("x" * 257, "of 257 characters: must be at most 256"),
        (12345678, "invalid admin_secret: must be a string"),
    ],
)
def test_admin_secret_rejected(tmp_path, secret, message):
    """A password with a newline, too long or not text is rejected."""
    error = reject(
        tmp_path, message, cloud_init=cloud_init(admin_secret=secret)
    )
    assert "two" not in error


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("opt/data", "must be an absolute path"),
        ("/opt/my data", "must be an absolute path"),
        ("/opt/data/", "must be normalized: use '/opt/data'"),
        ("/opt/../etc", "must be normalized: use '/etc'"),
        ("/home", "must not be a system directory"),
        ("/", "must not be a system directory"),
        ("/proc/data", "must not be a system directory"),
        ("/opt/$(reboot)", "must be an absolute path"),
    ],
)
def test_data_path_rejected(tmp_path, path, message):
    """data_path must be a safe, absolute, non-system directory."""
    error = reject(tmp_path, message, cloud_init=cloud_init(data_path=path))
    assert error.startswith(f"invalid data_path {path!r}")


def test_root_enabled_rejected(tmp_path):
    """root_enabled must be a boolean."""
    reject(
        tmp_path,
        "invalid root_enabled 'yes': must be true or false",
        cloud_init=cloud_init(root_enabled="yes"),
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"address": "10.213.7.0"}, "is the network or broadcast address"),
        ({"address": "10.213.7.255"}, "of 10.213.7.0/24"),
        ({"address": "10.213.7"}, "invalid network.address '10.213.7'"),
        ({"prefix": 33}, "invalid network.prefix 33: must be from 1 to 32"),
        (
            {"gateway": "10.213.8.1"},
            "must lie in the instance's network 10.213.7.0/24",
        ),
        ({"gateway": "10.213.7.10"}, "must differ from the address"),
        ({"dns": ["10.213.7.1", "dns"]}, "invalid network.dns 'dns'"),
    ],
)
def test_static_network_rejected(tmp_path, changes, message):
    """A static address must be a usable host of its own network."""
    reject(tmp_path, message, network=dict(STATIC, **changes))


def test_static_network_needs_mac(tmp_path):
    """A static address needs the MAC of the NIC it belongs to."""
    reject(tmp_path, "needs the instance's MAC address", mac=None)


def test_mac_rejected(tmp_path):
    """A malformed MAC is named in the error."""
    reject(
        tmp_path, "invalid mac '52:54:00:zz:00:01'", mac="52:54:00:zz:00:01"
    )


@pytest.mark.parametrize("devices", [["vdb"], ["/dev/vdb", "/dev/vdb"]])
def test_data_devices_rejected(tmp_path, devices):
    """Data devices must be distinct /dev paths."""
    reject(tmp_path, "invalid data device", data_devices=devices)


@pytest.mark.parametrize("instance_id", ["", "../x", "a b", None])
def test_instance_id_rejected(tmp_path, instance_id):
    """The instance id must be a plain identifier such as a UUID."""
    reject(tmp_path, "invalid instance_id", instance_id=instance_id)


def test_cloud_init_not_object(tmp_path):
    """Settings that are not an object are rejected."""
    reject(
        tmp_path, "invalid cloud_init 'x': must be an object", cloud_init="x"
    )


def test_missing_directory(tmp_path):
    """A missing directory gives a SeedError naming the path."""
    path = tmp_path / "missing" / "seed.iso"
    with pytest.raises(SeedError) as caught:
        build_seed(path, INSTANCE_ID, cloud_init(), STATIC, MAC)
    assert str(path) in str(caught.value)
    assert "No such file or directory" in str(caught.value)
    assert caught.value.path == str(path)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs for one seed ISO."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "nano-test", mount_point],
        check=True,
    )
    yield mount_point
    subprocess.run(["umount", mount_point], check=True)


@pytest.mark.slow
@pytest.mark.root
def test_full_disk_keeps_old_seed(small_tmpfs):
    """With no room for the new ISO, the old one stays whole."""
    path = small_tmpfs / "seed.iso"
    build_seed(path, INSTANCE_ID, cloud_init(), STATIC, MAC)
    before = path.read_bytes()
    fill(small_tmpfs / "filler")
    with pytest.raises(SeedError) as caught:
        build_seed(
            path, INSTANCE_ID, cloud_init(admin_secret="new-one"), STATIC, MAC
        )
    assert "No space left on device" in str(caught.value)
    assert path.read_bytes() == before
    names = sorted(p.name for p in small_tmpfs.iterdir())
    assert names == ["filler", "seed.iso"]


def fill(path):
    """Write ``path`` until its file system has no space left."""
    with open(path, "wb", buffering=0) as stream, pytest.raises(OSError):
        while True:
            stream.write(b"x" * 4096)
