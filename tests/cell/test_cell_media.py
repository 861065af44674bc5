"""
CD-ROM media on the Cell, on the fake libvirt: the empty drive of every
domain, insert and eject, a start from media, and the journal that
keeps the media across a restart.
"""

import xml.etree.ElementTree as ET
from pathlib import Path

from nano.cell._image_cache import ImageCache
from nano.cell.libvirt._guest import TRAY_TRIES
from nano.events.cell import MediaEjected
from nano.messages import (
    EjectMediaRequest,
    EjectMediaResponse,
    GetInstanceStatusRequest,
    InsertMediaRequest,
    InsertMediaResponse,
    StartInstanceRequest,
    StartInstanceResponse,
)
from nano.testing.fake_libvirt import VIR_DOMAIN_XML_INACTIVE, libvirtError

from .cell_helpers import CellHarness
from .test_cell_handlers import HandlerTestCase
from .test_cell_images import FakeFetch, reference

SHA = "cd" * 32


def cdrom(xml):
    """Return the CD-ROM ``<disk>`` element of a domain XML."""
    return ET.fromstring(xml).find("devices/disk[@device='cdrom']")


def boot_order(xml):
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


class MediaTestCase(HandlerTestCase):
    """A Cell with a fake download and one stopped instance."""

    def setUp(self):
        super().setUp()
        self.fetch = FakeFetch(content=b"ISO")
        self.images = Path(self.cell.settings.storage_directory) / "images"
        self.use_cache(self.cell)
        self.instance_id, _ = self.create()
        self.iso = str(self.images / f"{SHA}.iso")

    def use_cache(self, cell):
        """Give ``cell`` an image cache on the fake download."""
        cell.parts.handlers.images = ImageCache(
            cell.clock, self.images, self.fetch
        )

    def domain(self):
        """Return the instance's fake domain."""
        return self.cell.libvirt.domain("nano-" + self.instance_id)

    def insert(self, **fields):
        """Insert the test ISO; return the reply."""
        request = InsertMediaRequest(
            task_id="t-insert",
            instance_id=self.instance_id,
            media=reference("media", SHA),
            **fields,
        )
        return self.successResultOf(self.cell.request(request))

    def eject(self):
        """Eject the media; return the reply."""
        request = EjectMediaRequest(
            task_id="t-eject", instance_id=self.instance_id
        )
        return self.successResultOf(self.cell.request(request))


class DriveTests(MediaTestCase):
    """Every domain has an empty CD-ROM drive on its template's bus."""

    def test_empty_drive(self):
        """A new VirtIO domain has an empty IDE drive at hdc."""
        drive = cdrom(self.domain().XMLDesc())
        self.assertIsNotNone(drive)
        self.assertIsNone(drive.find("source"))
        self.assertEqual(drive.find("target").get("dev"), "hdc")
        self.assertEqual(drive.find("target").get("bus"), "ide")
        self.assertIsNotNone(drive.find("readonly"))

    def test_drive_follows_bus(self):
        """SATA, SCSI and IDE templates get the drive after their disks."""
        cases = [("sata", "sdc", "sata"), ("scsi", "sdc", "scsi")]
        cases.append(("ide", "hdc", "ide"))
        for bus, target, drive_bus in cases:
            instance_id, _ = self.create(
                template={"disk": bus}, disks=[2**30, 2**30]
            )
            xml = self.cell.libvirt.domain("nano-" + instance_id).XMLDesc()
            drive = cdrom(xml)
            self.assertEqual(drive.find("target").get("dev"), target)
            self.assertEqual(drive.find("target").get("bus"), drive_bus)


class InsertEjectTests(MediaTestCase):
    """InsertMediaRequest and EjectMediaRequest."""

    def test_insert_into_stopped(self):
        """The ISO is fetched, journalled and put in the drive."""
        reply = self.insert()
        self.assertIsInstance(reply, InsertMediaResponse)
        self.assertEqual(len(self.fetch.calls), 1)
        source = cdrom(self.domain().XMLDesc()).find("source")
        self.assertEqual(source.get("file"), self.iso)
        instance = self.cell.book.get(self.instance_id)
        self.assertEqual(instance.media, self.iso)
        self.assertEqual(instance.media_image, f"image-{SHA[:4]}")
        self.assertEqual(self.cell.journal_types()[-1], "MediaInserted")

    def test_insert_into_running(self):
        """A running domain gets the media now and at its next start."""
        start = StartInstanceRequest(task_id="t", instance_id=self.instance_id)
        self.successResultOf(self.cell.request(start))
        self.insert()
        domain = self.domain()
        live = cdrom(domain.XMLDesc()).find("source")
        saved = cdrom(domain.XMLDesc(VIR_DOMAIN_XML_INACTIVE)).find("source")
        self.assertEqual(live.get("file"), self.iso)
        self.assertEqual(saved.get("file"), self.iso)

    def test_eject(self):
        """Eject empties the drive and the journal records it."""
        self.insert()
        reply = self.eject()
        self.assertIsInstance(reply, EjectMediaResponse)
        self.assertIsNone(cdrom(self.domain().XMLDesc()).find("source"))
        self.assertIsNone(self.cell.book.get(self.instance_id).media)
        self.assertEqual(self.cell.journal_types()[-1], "MediaEjected")

    def test_eject_empty_drive(self):
        """Ejecting an empty drive succeeds and journals nothing."""
        before = self.cell.journal_types()
        self.eject()
        self.assertEqual(self.cell.journal_types(), before)

    def test_status_shows_media(self):
        """The instance description names the media image."""
        self.insert()
        request = GetInstanceStatusRequest(instance_id=self.instance_id)
        reply = self.successResultOf(self.cell.request(request))
        self.assertEqual(reply.instance["media"], f"image-{SHA[:4]}")

    def test_failed_change_journalled_back(self):
        """A drive libvirt cannot change leaves the journal as it was."""
        root = ET.fromstring(self.domain().XMLDesc())
        devices = root.find("devices")
        devices.remove(devices.find("disk[@device='cdrom']"))
        self.domain().replace_definition(root)
        self.fails(
            InsertMediaRequest(
                task_id="t",
                instance_id=self.instance_id,
                media=reference("media", SHA),
            ),
            "InsertMediaRequest failed",
            "has no CD-ROM drive",
        )
        self.assertIsNone(self.cell.book.get(self.instance_id).media)
        self.assertEqual(
            self.cell.journal_types()[-2:], ["MediaInserted", "MediaEjected"]
        )

    def test_fetch_failure(self):
        """A failed download changes nothing."""
        self.fetch.error = RuntimeError("HTTP 401")
        before = self.cell.journal_types()
        self.fails(
            InsertMediaRequest(
                task_id="t",
                instance_id=self.instance_id,
                media=reference("media", SHA),
            ),
            "fetching media image",
            "HTTP 401",
        )
        self.assertEqual(self.cell.journal_types(), before)

    def test_media_kept_after_restart(self):
        """A restarted Cell still has the media in its journal."""
        self.insert()
        self.successResultOf(self.cell.stop())
        self.cell = CellHarness(self.cell.directory, self.cell.libvirt)
        instance = self.cell.book.get(self.instance_id)
        self.assertEqual(instance.media, self.iso)
        self.assertEqual(instance.media_image, f"image-{SHA[:4]}")


class StartFromMediaTests(MediaTestCase):
    """StartInstanceRequest with ``from_media``."""

    def start(self, **fields):
        """Start the instance from the test ISO; return the Deferred."""
        request = StartInstanceRequest(
            task_id="t-start",
            instance_id=self.instance_id,
            from_media=reference("media", SHA),
            **fields,
        )
        return self.cell.request(request)

    def test_boots_cdrom_first_once(self):
        """The running domain boots from the CD-ROM, the next from disk."""
        reply = self.successResultOf(self.start())
        self.assertIsInstance(reply, StartInstanceResponse)
        self.assertEqual(reply.state, "running")
        domain = self.domain()
        self.assertEqual(boot_order(domain.XMLDesc()), ["cdrom", "hd"])
        saved = domain.XMLDesc(VIR_DOMAIN_XML_INACTIVE)
        self.assertEqual(boot_order(saved), ["hd"])
        self.assertEqual(cdrom(saved).find("source").get("file"), self.iso)
        instance = self.cell.book.get(self.instance_id)
        self.assertEqual(instance.state, "running")
        self.assertEqual(instance.media, self.iso)

    def test_password_kept(self):
        """Redefining the domain keeps its VNC password."""
        before = ET.fromstring(self.domain().XMLDesc(1)).find(
            "devices/graphics"
        )
        self.successResultOf(self.start())
        after = ET.fromstring(self.domain().XMLDesc(1)).find(
            "devices/graphics"
        )
        self.assertEqual(after.get("passwd"), before.get("passwd"))

    def test_running_instance_rejected(self):
        """Booting a running instance from media is rejected."""
        self.successResultOf(self.start())
        self.fails(
            StartInstanceRequest(
                task_id="t2",
                instance_id=self.instance_id,
                from_media=reference("media", SHA),
            ),
            "cannot boot instance",
            "must be stopped",
        )

    def test_start_failure_restores(self):
        """A start that fails puts the old definition and media back."""
        saved = self.domain().XMLDesc(VIR_DOMAIN_XML_INACTIVE)
        domain = self.domain()
        original = domain.create

        def refuse():
            raise libvirtError("internal error: no emulator", 1)

        domain.create = refuse
        self.addCleanup(setattr, domain, "create", original)
        self.fails(
            StartInstanceRequest(
                task_id="t-start",
                instance_id=self.instance_id,
                from_media=reference("media", SHA),
            ),
            "no emulator",
        )
        self.assertEqual(
            domain.XMLDesc(VIR_DOMAIN_XML_INACTIVE).replace("\n", ""),
            saved.replace("\n", ""),
        )
        self.assertIsNone(self.cell.book.get(self.instance_id).media)
        self.assertIsInstance(
            list(self.cell.journal.read())[-1][1], MediaEjected
        )


class TrayTests(MediaTestCase):
    """A media change that QEMU rejects while the tray is closed."""

    def test_tray_closed_tried_again(self):
        """The change is tried again until the tray opens."""
        domain = self.domain()
        original = domain.updateDeviceFlags
        calls = []

        def closed_twice(device_xml, flags):
            calls.append(device_xml)
            if len(calls) <= 2:
                raise libvirtError(
                    "internal error: unable to execute QEMU command "
                    "'blockdev-remove-medium': Tray of device 'ide0-1-0' "
                    "is not open",
                    1,
                )
            return original(device_xml, flags)

        domain.updateDeviceFlags = closed_twice
        self.insert()
        self.assertEqual(len(calls), 3)
        source = cdrom(self.domain().XMLDesc()).find("source")
        self.assertEqual(source.get("file"), self.iso)

    def test_tray_never_opens(self):
        """A tray that stays closed fails the insert after the last try."""
        domain = self.domain()
        calls = []

        def closed(device_xml, flags):
            calls.append(device_xml)
            raise libvirtError("internal error: Tray of device is not open", 1)

        domain.updateDeviceFlags = closed
        self.fails(
            InsertMediaRequest(
                task_id="t",
                instance_id=self.instance_id,
                media=reference("media", SHA),
            ),
            "is not open",
        )
        self.assertEqual(len(calls), TRAY_TRIES)
        self.assertIsNone(self.cell.book.get(self.instance_id).media)
