"""
The CD-ROM drive in domain XML: the empty drive of every domain, its
bus per template, the boot order, and media changes of an existing
domain's XML.
"""

import xml.etree.ElementTree as ET

import pytest

from nano.cell.libvirt import (
    DeviceSet,
    InvalidDomainSpec,
    NoCdromDrive,
    cdrom_device_xml,
    domain_xml,
    with_media,
)

from .test_domain_xml import spec

ISO = "/var/lib/nano/volumes/images/" + "cd" * 32 + ".iso"


def drive(xml):
    """Return the CD-ROM ``<disk>`` of a domain XML."""
    return ET.fromstring(xml).find("devices/disk[@device='cdrom']")


def boots(xml):
    """
    Return the boot devices of a domain XML in order, as ``<os><boot
    dev>`` names them: ``cdrom`` or ``hd``.
    """
    root = ET.fromstring(xml)
    legacy = [boot.get("dev") for boot in root.findall("os/boot")]
    ordered = sorted(
        (int(disk.find("boot").get("order")), disk.get("device"))
        for disk in root.iter("disk")
        if disk.find("boot") is not None
    )
    names = {"cdrom": "cdrom", "disk": "hd"}
    return legacy + [names[device] for _, device in ordered]


def test_empty_drive_by_default():
    """A domain has a read-only CD-ROM drive with no media."""
    cdrom = drive(domain_xml(spec()))
    assert cdrom.find("source") is None
    assert cdrom.find("readonly") is not None
    assert cdrom.find("driver").get("type") == "raw"


@pytest.mark.parametrize(
    ("bus", "index", "target", "drive_bus"),
    [
        ("virtio", 1, "hdc", "ide"),
        ("virtio", 5, "hdc", "ide"),
        ("sata", 1, "sdb", "sata"),
        ("scsi", 3, "sdd", "scsi"),
        ("ide", 1, "hdb", "ide"),
        ("ide", 3, "hdd", "ide"),
    ],
)
def test_drive_target(bus, index, target, drive_bus):
    """The drive sits on the template's bus after its disks."""
    xml = domain_xml(spec(devices=DeviceSet(disk_bus=bus), cdrom_index=index))
    element = drive(xml).find("target")
    assert element.get("dev") == target
    assert element.get("bus") == drive_bus


def test_media_and_boot_order():
    """With media and boot_cdrom, the drive contains it and boots first."""
    xml = domain_xml(spec(cdrom=ISO, boot_cdrom=True))
    assert drive(xml).find("source").get("file") == ISO
    assert boots(xml) == ["cdrom", "hd"]
    assert boots(domain_xml(spec(cdrom=ISO))) == ["hd"]


def test_relative_media_rejected():
    """The media path must be absolute."""
    with pytest.raises(InvalidDomainSpec, match=r"invalid cdrom 'x\.iso'"):
        spec(cdrom="x.iso")


def test_device_xml_insert_and_eject():
    """The device XML has the new media, or none, on the same target."""
    xml = domain_xml(spec())
    inserted = ET.fromstring(cdrom_device_xml(xml, ISO))
    assert inserted.get("device") == "cdrom"
    assert inserted.find("source").get("file") == ISO
    assert inserted.find("target").get("dev") == "hdc"
    with_iso = domain_xml(spec(cdrom=ISO))
    ejected = ET.fromstring(cdrom_device_xml(with_iso, None))
    assert ejected.find("source") is None


def test_with_media_sets_boot_order():
    """with_media changes the media and the boot order, nothing else."""
    xml = domain_xml(spec())
    booting = with_media(xml, ISO, True)
    assert boots(booting) == ["cdrom", "hd"]
    assert ET.fromstring(booting).find("os/boot") is None
    assert drive(booting).find("source").get("file") == ISO
    again = with_media(booting, ISO, False)
    assert boots(again) == ["hd"]
    assert drive(again).find("source").get("file") == ISO
    assert "52:54:00:12:34:56" in again


def test_no_drive():
    """A domain without a drive is rejected with the fix."""
    root = ET.fromstring(domain_xml(spec()))
    devices = root.find("devices")
    devices.remove(devices.find("disk[@device='cdrom']"))
    xml = ET.tostring(root, encoding="unicode")
    with pytest.raises(NoCdromDrive, match="recreate the instance"):
        cdrom_device_xml(xml, ISO)
    with pytest.raises(NoCdromDrive):
        with_media(xml, ISO, True)
