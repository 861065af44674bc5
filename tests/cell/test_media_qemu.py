"""
The CD-ROM drive on real QEMU, through a private libvirtd: every disk
bus of the templates starts with an empty drive, and media goes in and
out of the running domain.
"""

import io
import xml.etree.ElementTree as ET

import attrs
import pycdlib
import pytest
import pytest_twisted

from nano.cell.libvirt import DeviceSet, DomainState, domain_xml

from .test_libvirt_qemu import (  # noqa: F401
    BOOT_MARKER,
    BOOT_TIMEOUT,
    GUEST_IMAGE,
    MIB,
    host,
    qemu_spec,
    storage,
    wait_for_marker,
)

pytestmark = [pytest.mark.slow, pytest.mark.root]


def make_iso(path):
    """Write a small ISO 9660 image with one file."""
    iso = pycdlib.PyCdlib()
    iso.new(vol_ident="NANOTEST")
    data = b"nano media test\n"
    iso.add_fp(io.BytesIO(data), len(data), "/README.TXT;1")
    iso.write(str(path))
    iso.close()
    return str(path)


def source_of(xml):
    """Return the file in the CD-ROM drive of a domain XML, or None."""
    drive = ET.fromstring(xml).find("devices/disk[@device='cdrom']")
    source = drive.find("source")
    return None if source is None else source.get("file")


@pytest.mark.parametrize("bus", ["virtio", "sata", "scsi", "ide"])
@pytest_twisted.ensureDeferred
async def test_media_in_running_domain(host, storage, tmp_path, bus):  # noqa: F811
    """A running domain takes media in its drive and gives it back."""
    iso = make_iso(tmp_path / "test.iso")
    name = f"media-{bus}"
    disk = await storage.create_from_image(name, GUEST_IMAGE, 64 * MIB)
    console_log = str(tmp_path / "console.log")
    spec = qemu_spec(
        f"nano-media-{bus}", disk, console_log, DeviceSet(disk_bus=bus)
    )
    guest = await host.define(domain_xml(spec))
    try:
        await guest.start()
        assert await guest.state() is DomainState.RUNNING
        # The firmware probes the drive while it boots and can close its
        # tray under libvirt. The test guest loads no CD-ROM driver, so
        # media changes after its boot do not race with the guest.
        await wait_for_marker(console_log, BOOT_MARKER, BOOT_TIMEOUT)
        assert source_of(await guest.xml()) is None

        await guest.change_media(iso)
        assert source_of(await guest.xml()) == iso
        assert source_of(await guest.xml(inactive=True)) == iso

        await guest.change_media(None)
        assert source_of(await guest.xml()) is None
        assert source_of(await guest.xml(inactive=True)) is None
    finally:
        if await guest.state() is not DomainState.STOPPED:
            await guest.destroy()
        await guest.undefine()


@pytest_twisted.ensureDeferred
async def test_boot_order_accepted(host, storage, tmp_path):  # noqa: F811
    """
    QEMU starts a domain that boots from its media drive first, beside a
    second CD-ROM drive such as the cloud-init seed.
    """
    iso = make_iso(tmp_path / "boot.iso")
    disk = await storage.create("media-boot", 64 * MIB)
    spec = qemu_spec("nano-media-boot", disk, str(tmp_path / "console.log"))
    spec = attrs.evolve(spec, cdrom=iso, boot_cdrom=True)
    root = ET.fromstring(domain_xml(spec))
    seed = ET.SubElement(root.find("devices"), "disk", type="file")
    seed.set("device", "cdrom")
    ET.SubElement(seed, "source", file=make_iso(tmp_path / "seed.iso"))
    ET.SubElement(seed, "target", dev="hdd", bus="ide")
    ET.SubElement(seed, "readonly")
    guest = await host.define(ET.tostring(root, encoding="unicode"))
    try:
        await guest.start()
        assert await guest.state() is DomainState.RUNNING
        running = ET.fromstring(await guest.xml())
        drive = running.find("devices/disk[@device='cdrom']")
        assert drive.find("boot").get("order") == "1"
        assert drive.find("source").get("file") == iso
    finally:
        if await guest.state() is not DomainState.STOPPED:
            await guest.destroy()
        await guest.undefine()
