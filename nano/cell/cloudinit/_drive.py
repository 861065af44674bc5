"""
The seed ISO as an instance's file and CD-ROM drive: where it lives, the
guest names of the data disks it formats, the drive in the domain XML,
and building, rebuilding and removing it off the reactor thread.
"""

import contextlib
import os
import xml.etree.ElementTree as ET

from twisted.internet.threads import deferToThreadPool

from ._errors import SeedError
from ._rebuild import rebuild_seed
from ._seed import build_seed

# The seed drive goes on the IDE bus of QEMU's "pc" machine, which every
# Linux guest reads (the q35 machine has no IDE bus). Its slots are tried
# from hdd down, so the IDE disks and the media CD-ROM, which take slots
# from hda up, keep theirs.
_SEED_TARGETS = ("hdd", "hdc", "hdb")
# Data disks as the guest's kernel names them: virtio-blk disks are vdX,
# and SCSI, SATA and IDE disks (through libata) are sdX.
_GUEST_PREFIXES = {"virtio": "vd", "scsi": "sd", "sata": "sd", "ide": "sd"}


def seed_path(directory, instance_id):
    """Return the seed ISO's path: ``<directory>/<instance id>_ci.iso``."""
    return os.path.join(directory, f"{instance_id}_ci.iso")


def wants_seed(cloud_init, network):
    """
    Tell whether a create request needs a seed ISO: it has cloud-init
    settings, or its address is to be written into the guest.
    """
    static = network is not None and network.get("provider") == "cloudinit"
    return cloud_init is not None or static


def data_devices(disk_bus, disk_count):
    """
    Return the guest device paths of the data disks: every disk after
    the system disk, in the order libvirt attaches them.
    """
    prefix = _GUEST_PREFIXES[disk_bus]
    return [f"/dev/{prefix}{chr(ord('a') + i)}" for i in range(1, disk_count)]


def add_seed_drive(xml, path):
    """
    Return domain XML with the seed ISO at ``path`` in a read-only IDE
    CD-ROM drive of its own.

    :raises SeedError: the domain uses every IDE slot already.
    """
    root = ET.fromstring(xml)
    devices = root.find("devices")
    used = {target.get("dev") for target in devices.iter("target")}
    free = [target for target in _SEED_TARGETS if target not in used]
    if not free:
        raise SeedError(
            "no free IDE slot for the cloud-init seed drive: the domain "
            "uses hdb, hdc and hdd already; use fewer IDE disks"
        )
    drive = ET.Element("disk", type="file", device="cdrom")
    ET.SubElement(drive, "driver", name="qemu", type="raw")
    ET.SubElement(drive, "source", file=path)
    ET.SubElement(drive, "target", dev=free[0], bus="ide")
    ET.SubElement(drive, "readonly")
    disks = devices.findall("disk")
    position = list(devices).index(disks[-1]) + 1 if disks else 0
    devices.insert(position, drive)
    return ET.tostring(root, encoding="unicode")


def build_in_thread(reactor, *arguments, **keywords):
    """
    Call :func:`build_seed` in the reactor's thread pool.

    :return: a Deferred with the admin password.
    """
    pool = reactor.getThreadPool()
    return deferToThreadPool(reactor, pool, build_seed, *arguments, **keywords)


def rebuild_in_thread(reactor, *arguments):
    """
    Call :func:`rebuild_seed` in the reactor's thread pool.

    :return: a Deferred that fires when the new ISO is in place.
    """
    pool = reactor.getThreadPool()
    return deferToThreadPool(reactor, pool, rebuild_seed, *arguments)


def remove_seed(path):
    """Delete a seed ISO. A missing one is not an error."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
