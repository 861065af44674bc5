"""
The CD-ROM drive of an existing domain: its XML with other media in
it, and with the drive first or not in the boot order.
"""

import copy
import xml.etree.ElementTree as ET


class NoCdromDrive(ValueError):
    """A domain definition has no CD-ROM drive to put media in."""


def _cdrom(root, name):
    drive = root.find("devices/disk[@device='cdrom']")
    if drive is None:
        raise NoCdromDrive(
            f"domain {name!r} has no CD-ROM drive: it was defined before "
            "Nano added one; recreate the instance to use media"
        )
    return drive


def _set_source(drive, path):
    for source in drive.findall("source"):
        drive.remove(source)
    if path is not None:
        source = ET.Element("source", file=path)
        drive.insert(1, source)


def cdrom_device_xml(domain_xml, path):
    """
    Return the ``<disk>`` XML of the domain's CD-ROM drive with ``path``
    in it, or empty for ``None``, for ``updateDeviceFlags``.

    :raises NoCdromDrive: the domain has no CD-ROM drive.
    """
    root = ET.fromstring(domain_xml)
    drive = copy.deepcopy(_cdrom(root, root.findtext("name")))
    _set_source(drive, path)
    return ET.tostring(drive, encoding="unicode")


def with_media(domain_xml, path, boot_cdrom):
    """
    Return the domain XML with ``path`` (or nothing) in its CD-ROM drive,
    booting from that drive first when ``boot_cdrom`` is set and from the
    system disk only otherwise.

    :raises NoCdromDrive: the domain has no CD-ROM drive.
    """
    root = ET.fromstring(domain_xml)
    drive = _cdrom(root, root.findtext("name"))
    _set_source(drive, path)
    set_boot_order(root, drive, boot_cdrom)
    return ET.tostring(root, encoding="unicode")


def set_boot_order(root, drive, boot_cdrom):
    """
    Make a domain element boot from its system disk, or from ``drive``
    first and then the system disk.

    A per-device ``<boot order>`` names the one drive, where
    ``<os><boot dev='cdrom'/>`` would leave the firmware to pick among
    several CD-ROM drives (the cloud-init seed is one too). libvirt
    rejects a mix of the two forms, so each form replaces the other.
    """
    os_element = root.find("os")
    for boot in os_element.findall("boot"):
        os_element.remove(boot)
    for device in root.find("devices"):
        for boot in device.findall("boot"):
            device.remove(boot)
    if not boot_cdrom:
        ET.SubElement(os_element, "boot", dev="hd")
        return
    system = root.find("devices/disk[@device='disk']")
    _boot_first(drive, "1")
    _boot_first(system, "2")


def _boot_first(device, order):
    boot = ET.Element("boot", order=order)
    position = len(device)
    for index, child in enumerate(device):
        if child.tag in ("readonly", "address", "alias"):
            position = index
            break
    device.insert(position, boot)
