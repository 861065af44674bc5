"""
The seed ISO as an instance's CD-ROM drive, rebuilt with a new
administrator or password, built off the reactor thread, and removed.
"""

import threading
import xml.etree.ElementTree as ET

import pytest
import pytest_twisted
import yaml
from passlib.hash import sha512_crypt
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from nano.cell.cloudinit import (
    InvalidSeed,
    SeedError,
    SeedStore,
    _drive,
    add_seed_drive,
    build_seed,
    data_devices,
    rebuild_seed,
    remove_seed,
    seed_path,
    wants_seed,
)
from nano.cell.libvirt import DeviceSet, DomainSpec, domain_xml, with_media

from .seed_helpers import (
    DHCP,
    INSTANCE_ID,
    MAC,
    STATIC,
    cloud_init,
    parse_user_data,
    read_with_pycdlib,
)

MIB = 1024 * 1024


def test_seed_path():
    """The seed is <directory>/<instance id>_ci.iso."""
    path = seed_path("/var/lib/nano/volumes", INSTANCE_ID)
    assert path == f"/var/lib/nano/volumes/{INSTANCE_ID}_ci.iso"


@pytest.mark.parametrize(
    ("settings", "network", "expected"),
    [
        (None, None, False),
        (None, DHCP, False),
        (None, STATIC, True),
        (cloud_init(), None, True),
        (cloud_init(), DHCP, True),
    ],
)
def test_wants_seed(settings, network, expected):
    """A seed is built for cloud-init settings or a static address."""
    assert wants_seed(settings, network) is expected


@pytest.mark.parametrize(
    ("bus", "expected"),
    [
        ("virtio", ["/dev/vdb", "/dev/vdc"]),
        ("scsi", ["/dev/sdb", "/dev/sdc"]),
        ("sata", ["/dev/sdb", "/dev/sdc"]),
        ("ide", ["/dev/sdb", "/dev/sdc"]),
    ],
)
def test_data_devices(bus, expected):
    """Data disks are named as the guest's kernel names them."""
    assert data_devices(bus, 3) == expected
    assert data_devices(bus, 1) == []


def domain(disk_bus="virtio"):
    """Return the XML of a domain with the given disk bus."""
    spec = DomainSpec(
        name="nano-vm1",
        uuid=INSTANCE_ID,
        cores=1,
        memory=256 * MIB,
        devices=DeviceSet(disk_bus=disk_bus),
        system_disk="/var/lib/nano/volumes/vm1-0.qcow2",
    )
    return domain_xml(spec)


def seed_drives(xml, path):
    """Return the CD-ROM drives of domain XML that hold ``path``."""
    devices = ET.fromstring(xml).find("devices")
    return [
        disk
        for disk in devices.findall("disk")
        if disk.get("device") == "cdrom"
        and disk.find("source") is not None
        and disk.find("source").get("file") == path
    ]


def test_seed_drive_added():
    """The seed is a read-only IDE CD-ROM after the domain's disks."""
    xml = add_seed_drive(domain(), "/volumes/seed_ci.iso")
    [drive] = seed_drives(xml, "/volumes/seed_ci.iso")
    assert drive.find("target").attrib == {"dev": "hdd", "bus": "ide"}
    assert drive.find("readonly") is not None
    assert drive.find("driver").get("type") == "raw"
    disks = ET.fromstring(xml).find("devices").findall("disk")
    assert disks[-1].find("source").get("file") == "/volumes/seed_ci.iso"


def test_seed_drive_libvirt():
    """libvirt's test driver defines the domain and keeps both drives."""
    libvirt = pytest.importorskip("libvirt")
    connection = libvirt.open("test:///default")
    try:
        for bus in ("virtio", "scsi", "sata", "ide"):
            root = ET.fromstring(add_seed_drive(domain(bus), "/s_ci.iso"))
            root.set("type", "test")
            defined = connection.defineXML(ET.tostring(root, "unicode"))
            read_back = defined.XMLDesc()
            defined.undefine()
            [drive] = seed_drives(read_back, "/s_ci.iso")
            assert drive.find("target").get("dev") == "hdd"
    finally:
        connection.close()


def test_seed_drive_free_ide_slot():
    """On an IDE template the seed takes the last free IDE slot."""
    root = ET.fromstring(domain("ide"))
    devices = root.find("devices")
    for target in ("hdb", "hdd"):
        disk = ET.SubElement(devices, "disk", type="file", device="disk")
        ET.SubElement(disk, "target", dev=target, bus="ide")
    xml = add_seed_drive(ET.tostring(root, encoding="unicode"), "/s.iso")
    [drive] = seed_drives(xml, "/s.iso")
    assert drive.find("target").get("dev") == "hdc"


def test_seed_drive_no_ide_slot():
    """With hdb to hdd taken, the error names the slots."""
    root = ET.fromstring(domain("ide"))
    devices = root.find("devices")
    for target in ("hdb", "hdc", "hdd"):
        disk = ET.SubElement(devices, "disk", type="file", device="disk")
        ET.SubElement(disk, "target", dev=target, bus="ide")
    with pytest.raises(SeedError) as caught:
        add_seed_drive(ET.tostring(root, encoding="unicode"), "/s.iso")
    assert "no free IDE slot" in str(caught.value)


@pytest.fixture
def seed(tmp_path):
    """A seed ISO built with the default test settings."""
    path = tmp_path / f"{INSTANCE_ID}_ci.iso"
    build_seed(path, INSTANCE_ID, cloud_init(), STATIC, MAC, ["/dev/vdb"])
    return path


def test_rebuild_password(seed):
    """A new password changes only the hash in user-data."""
    _, before = read_with_pycdlib(seed)
    assert rebuild_seed(seed, admin_secret="New-pass-9") == "New-pass-9"
    _, after = read_with_pycdlib(seed)
    assert after["meta-data"] == before["meta-data"]
    assert after["network-config"] == before["network-config"]
    old = parse_user_data(before["user-data"])
    new = parse_user_data(after["user-data"])
    [user] = new.pop("users")
    old.pop("users")
    assert new == old
    assert user["name"] == "nano"
    assert sha512_crypt.verify("New-pass-9", user["hashed_passwd"])


def test_rebuild_admin_root(seed):
    """A change to root keeps the hash and sets it through chpasswd."""
    _, before = read_with_pycdlib(seed)
    [old_user] = parse_user_data(before["user-data"])["users"]
    assert rebuild_seed(seed, admin_name="root") is None
    _, after = read_with_pycdlib(seed)
    config = parse_user_data(after["user-data"])
    assert "users" not in config
    [entry] = config["chpasswd"]["users"]
    assert entry["name"] == "root"
    assert entry["password"] == old_user["hashed_passwd"]
    assert list(config)[:7] == [
        "hostname",
        "preserve_hostname",
        "manage_etc_hosts",
        "disable_root",
        "ssh_pwauth",
        "chpasswd",
        "growpart",
    ]


def test_rebuild_random_password(seed):
    """An empty password gets a random one, which the hash matches."""
    password = rebuild_seed(seed, admin_secret="")
    _, files = read_with_pycdlib(seed)
    [user] = parse_user_data(files["user-data"])["users"]
    assert len(password) == 12
    assert sha512_crypt.verify(password, user["hashed_passwd"])


def test_rebuild_invalid_name(seed):
    """An invalid admin name leaves the ISO as it was."""
    before = seed.read_bytes()
    with pytest.raises(InvalidSeed) as caught:
        rebuild_seed(seed, admin_name="Bad Name", admin_secret="x")
    assert "invalid admin_name 'Bad Name'" in str(caught.value)
    assert seed.read_bytes() == before


def test_rebuild_missing(tmp_path):
    """Rebuilding a seed that does not exist names the file."""
    path = tmp_path / "none_ci.iso"
    with pytest.raises(SeedError) as caught:
        rebuild_seed(path, admin_secret="x")
    assert str(path) in str(caught.value)
    assert "failed to read seed ISO" in str(caught.value)


def test_rebuild_not_iso(tmp_path):
    """A file that is not an ISO image is reported, not rewritten."""
    path = tmp_path / "junk_ci.iso"
    path.write_bytes(b"not an ISO" * 1000)
    with pytest.raises(SeedError):
        rebuild_seed(path, admin_secret="x")
    assert path.read_bytes() == b"not an ISO" * 1000


@pytest_twisted.ensureDeferred
async def test_store_in_thread(tmp_path, monkeypatch):
    """A store on the reactor builds and rebuilds in its thread pool."""
    threads = []

    def recording(function):
        def record_thread(*arguments):
            threads.append(threading.get_ident())
            return function(*arguments)

        return record_thread

    for name in ("build_seed", "rebuild_seed"):
        real = getattr(_drive, name)
        monkeypatch.setattr(_drive, name, recording(real))
    store = SeedStore.for_reactor(str(tmp_path), reactor)
    path = tmp_path / f"{INSTANCE_ID}_ci.iso"
    password = await store.build(
        INSTANCE_ID, cloud_init(admin_secret=""), DHCP, MAC
    )
    await store.rebuild(INSTANCE_ID, "ops", "Other-1")
    _, files = read_with_pycdlib(path)
    [user] = parse_user_data(files["user-data"])["users"]
    meta = yaml.safe_load(files["meta-data"])
    assert len(password) == 12
    assert user["name"] == "ops"
    assert sha512_crypt.verify("Other-1", user["hashed_passwd"])
    assert meta["instance-id"] == INSTANCE_ID
    assert len(threads) == 2
    assert threading.get_ident() not in threads


def test_store_on_clock(tmp_path):
    """A store on a test clock builds at once; attach and remove follow."""
    store = SeedStore.for_reactor(str(tmp_path), Clock())
    xml = domain()
    assert store.attach(xml, INSTANCE_ID) == xml
    built = store.build(INSTANCE_ID, cloud_init(), STATIC, MAC, ["/dev/vdb"])
    assert successResultOf(built) == "Secret-42 pass"
    assert store.exists(INSTANCE_ID)
    [drive] = seed_drives(
        store.attach(xml, INSTANCE_ID), store.path(INSTANCE_ID)
    )
    assert drive.find("target").get("dev") == "hdd"
    store.remove(INSTANCE_ID)
    assert not store.exists(INSTANCE_ID)
    store.remove(INSTANCE_ID)


def successResultOf(deferred):
    """Return the result of a Deferred that has fired with a success."""
    results = []
    deferred.addBoth(results.append)
    [result] = results
    assert not isinstance(result, Failure), result
    return result


def test_remove_seed(seed):
    """Removing deletes the ISO, and removing again is no error."""
    remove_seed(seed)
    assert not seed.exists()
    remove_seed(seed)


def test_rebuild_seed_without_admin(tmp_path):
    """A seed with no admin gets root and a random password on rebuild."""
    path = tmp_path / "seed.iso"
    build_seed(path, INSTANCE_ID, {"hostname": "db"}, STATIC, MAC)
    password = rebuild_seed(path)
    _, files = read_with_pycdlib(path)
    [entry] = parse_user_data(files["user-data"])["chpasswd"]["users"]
    assert entry["name"] == "root"
    assert sha512_crypt.verify(password, entry["password"])


def test_media_drive_stays_first():
    """Media goes into the template's CD-ROM drive, not the seed drive."""
    xml = add_seed_drive(domain(), "/volumes/seed_ci.iso")
    changed = with_media(xml, "/images/install.iso", True)
    drives = [
        disk
        for disk in ET.fromstring(changed).find("devices").findall("disk")
        if disk.get("device") == "cdrom"
    ]
    sources = [d.find("source").get("file") for d in drives]
    assert sources == ["/images/install.iso", "/volumes/seed_ci.iso"]
