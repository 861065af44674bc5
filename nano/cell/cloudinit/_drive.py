"""
The seed ISO as an instance's file and CD-ROM drive: where it lives, the
guest names of the data disks it formats, the drive in the domain XML,
and the store that builds, rebuilds and removes them off the reactor
thread.
"""

import contextlib
import os
import xml.etree.ElementTree as ET

from twisted.internet.defer import maybeDeferred
from twisted.internet.interfaces import IReactorThreads
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


class SeedStore:
    """
    The seed ISOs of a Cell's instances, ``<directory>/<id>_ci.iso``,
    built and rebuilt through ``run``, which returns a Deferred.

    :param directory: the Cell's storage directory.
    :param run: ``run(function, *args)`` calls ``function`` and returns
        a Deferred with its result; see :meth:`for_reactor`.
    """

    def __init__(self, directory, run):
        self.directory = directory
        self._run = run

    @classmethod
    def for_reactor(cls, directory, reactor):
        """
        Return a store that builds in ``reactor``'s thread pool, or at
        once when ``reactor`` has no thread pool, as a test clock has not.
        """
        if not IReactorThreads.providedBy(reactor):
            return cls(directory, maybeDeferred)

        def run(function, *args):
            pool = reactor.getThreadPool()
            return deferToThreadPool(reactor, pool, function, *args)

        return cls(directory, run)

    def path(self, instance_id):
        """Return the path of an instance's seed ISO."""
        return seed_path(self.directory, instance_id)

    def exists(self, instance_id):
        """Tell whether an instance has a seed ISO."""
        return os.path.exists(self.path(instance_id))

    def build(self, instance_id, cloud_init, network, mac, devices=()):
        """
        Build an instance's seed with :func:`build_seed`.

        :return: a Deferred with the admin password.
        """
        path = self.path(instance_id)
        arguments = (path, instance_id, cloud_init, network, mac, devices)
        return self._run(build_seed, *arguments)

    def rebuild(self, instance_id, admin_name, admin_secret):
        """
        Change an instance's administrator or password with
        :func:`rebuild_seed`.

        :return: a Deferred with the new password, or ``None``.
        """
        path = self.path(instance_id)
        return self._run(rebuild_seed, path, admin_name, admin_secret)

    def attach(self, xml, instance_id):
        """Return domain XML with the instance's seed drive, if it has one."""
        if not self.exists(instance_id):
            return xml
        return add_seed_drive(xml, self.path(instance_id))

    def remove(self, instance_id):
        """Delete an instance's seed ISO, if it has one."""
        remove_seed(self.path(instance_id))


def remove_seed(path):
    """Delete a seed ISO. A missing one is not an error."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
