"""
Tests of a guest's MAC address and of creating a guest from a disk
image, with fake Cells and a fake image lookup.
"""

from types import SimpleNamespace

from cluster_helpers import CORE_ADDRESS, GIB
from guest_helpers import GuestTestCase
from twisted.trial.unittest import SynchronousTestCase

from nano.core._guests import ImageUnavailable
from nano.core.api.guests import image_reference
from nano.core.images import ImageError
from nano.projections import CoreProjection, LiveProjection, load
from nano.projections.guests import GuestProjection

IMAGE = "9b2f4c7e-7d51-4b8e-9a43-0f4d2b8e6c11"
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def reference(kind, image_id, virtual_size=8 * GIB):
    """Return an image reference as Core's image service builds one."""
    return {
        "id": image_id,
        "kind": kind,
        "sha256": "ab" * 32,
        "size": GIB,
        "virtual_size": virtual_size,
        "port": 5871,
        "ca_certificate": CERTIFICATE,
        "token": "0f" * 32,
    }


class FakeImages:
    """
    Image references by ``(kind, id)``, for ``Guests.image_reference``.

    :ivar missing: why an image cannot be used, by ``(kind, id)``.
    """

    def __init__(self):
        self.references = {}
        self.missing = {}

    def add(self, kind, image_id, **fields):
        """Make ``image_id`` of ``kind`` usable."""
        self.references[(kind, image_id)] = reference(kind, image_id, **fields)

    def __call__(self, kind, image_id):
        key = (kind, image_id)
        if key in self.missing:
            raise ImageUnavailable(self.missing[key])
        if key not in self.references:
            raise ImageUnavailable(f"{kind} image {image_id!r} not found")
        return self.references[key]


class GuestMacTests(GuestTestCase):
    """Every guest gets a MAC address that survives a restart of Core."""

    def setUp(self):
        super().setUp()
        self.cell = self.add_instance_cell("Cell_1")

    def test_random_mac_sent_and_shown(self):
        """Core picks a 52:54:00 MAC, sends it and shows it."""
        self.create()
        self.advance(1)
        mac = self.cell.received[0].mac
        self.assertRegex(mac, r"^52:54:00(:[0-9a-f]{2}){3}$")
        self.assertEqual(self.guest("g1")["ethernet_address"], mac)

    def test_mac_kept_after_restart(self):
        """The MAC is in the journal, so a restarted Core shows it."""
        self.create()
        self.advance(1)
        mac = self.cell.received[0].mac
        self.api.guests.stop()
        self.network.detach(CORE_ADDRESS)
        self.live = LiveProjection(CoreProjection(), self.journal)
        self.start_core()
        self.advance(5)
        guests = load(GuestProjection(), self.journal).state
        self.assertEqual(guests["g1"].mac, mac)
        self.assertEqual(self.guest("g1")["ethernet_address"], mac)

    def test_macs_differ(self):
        """A MAC another guest has is drawn again."""
        macs = iter(["52:54:00:00:00:01"] * 2 + ["52:54:00:00:00:02"])
        self.api.guests.make_mac = lambda: next(macs)
        self.create(name="a")
        self.create(name="b")
        self.advance(1)
        sent = [message.mac for message in self.cell.received[::2]]
        self.assertEqual(sent, ["52:54:00:00:00:01", "52:54:00:00:00:02"])

    def test_given_mac_used(self):
        """A client's ethernet_address is used, in lower case."""
        self.create(ethernet_address="52:54:00:AB:CD:EF")
        self.advance(1)
        self.assertEqual(self.cell.received[0].mac, "52:54:00:ab:cd:ef")

    def test_given_mac_checked(self):
        """An invalid or taken ethernet_address is rejected."""
        reply = self.create(ethernet_address="52:54:00")
        self.assert_error(reply, 400, "invalid ethernet_address '52:54:00'")
        self.create(name="a", ethernet_address="52:54:00:00:00:09")
        reply = self.create(name="b", ethernet_address="52:54:00:00:00:09")
        self.assert_error(reply, 409, "52:54:00:00:00:09 is taken")

    def test_no_image_service(self):
        """A Core without an image service rejects from_image."""
        reply = self.create(from_image=IMAGE)
        self.assert_error(reply, 400, "Core has no image service")


class GuestFromImageTests(GuestTestCase):
    """POST /guests/ with ``from_image``."""

    def setUp(self):
        super().setUp()
        self.cell = self.add_instance_cell("Cell_1")
        self.images = FakeImages()
        self.api.guests.image_reference = self.images

    def test_reference_sent_to_cell(self):
        """The Cell gets the image's reference in the create request."""
        self.images.add("disk", IMAGE)
        reply = self.create(from_image=IMAGE)
        self.assertEqual(reply.status, 202)
        self.advance(1)
        request = self.cell.received[0]
        self.assertEqual(request.from_image["id"], IMAGE)
        self.assertEqual(request.from_image["kind"], "disk")
        self.assertEqual(self.guest("g1")["from_image"], IMAGE)

    def test_unknown_image_rejected(self):
        """An unknown image id is a 400 naming it, and nothing is sent."""
        reply = self.create(from_image="nope")
        self.assert_error(reply, 400, "invalid from_image", "'nope'")
        self.advance(1)
        self.assertEqual(self.cell.received, [])

    def test_image_without_file_rejected(self):
        """An image with no uploaded file is a 400 with the reason."""
        self.images.missing[("disk", IMAGE)] = "no file uploaded yet"
        reply = self.create(from_image=IMAGE)
        self.assert_error(reply, 400, "no file uploaded yet")

    def test_image_larger_than_disk(self):
        """An image larger than the system disk is a 400."""
        self.images.add("disk", IMAGE, virtual_size=20 * GIB)
        reply = self.create(from_image=IMAGE, disks=[10 * GIB])
        self.assert_error(
            reply, 400, "larger than the system disk", str(10 * GIB)
        )

    def test_image_deleted_mid_create(self):
        """An image gone before the create step rolls the guest back."""
        self.images.add("disk", IMAGE)
        calls = []

        def deleted_after_check(kind, image_id):
            calls.append(image_id)
            if len(calls) > 1:
                raise ImageUnavailable("disk image was deleted")
            return self.images(kind, image_id)

        self.api.guests.image_reference = deleted_after_check
        self.create(from_image=IMAGE)
        self.advance(30)
        data = self.guest("g1")
        self.assertEqual(data["created"], False)
        self.assertIn("disk image was deleted", data["error"])


class InstanceMediaTests(GuestTestCase):
    """Start from media, insert and eject, through the instance routes."""

    def setUp(self):
        super().setUp()
        self.cell = self.add_instance_cell("Cell_1")
        self.images = FakeImages()
        self.images.add("media", "iso1")
        self.api.guests.image_reference = self.images
        self.create(auto_start=False)
        self.advance(1)

    def tearDown(self):
        # The fake Cell's session logs the errors it replies.
        self.flushLoggedErrors(RuntimeError, KeyError)
        super().tearDown()

    def status(self):
        """Return the data of GET /instances/g1."""
        reply = self.call("GET", "/api/v1/instances/g1")
        self.assert_ok(reply)
        return reply.data

    def test_start_from_media(self):
        """The Cell gets the media reference with the start."""
        body = {"from_media": True, "source": "iso1"}
        self.assert_ok(self.call("POST", "/api/v1/instances/g1", body))
        request = self.cell.received[-1]
        self.assertEqual(request.type_name, "StartInstanceRequest")
        self.assertEqual(request.from_media["id"], "iso1")
        self.assertEqual(request.from_media["kind"], "media")
        self.assertEqual(self.status()["media_source"], "iso1")

    def test_plain_start_has_no_media(self):
        """A start without from_media sends no media."""
        body = {"from_media": False, "source": "iso1"}
        self.assert_ok(self.call("POST", "/api/v1/instances/g1", body))
        self.assertIsNone(self.cell.received[-1].from_media)

    def test_insert_and_eject(self):
        """Insert and eject reach the Cell and show in the status."""
        self.assertEqual(self.status()["media_attached"], False)
        body = {"source": "iso1", "type": 0}
        self.assert_ok(self.call("POST", "/api/v1/instances/g1/media", body))
        self.assertEqual(self.cell.received[-1].media["id"], "iso1")
        data = self.status()
        self.assertEqual(data["media_attached"], True)
        self.assertEqual(data["media_source"], "iso1")
        self.assert_ok(self.call("DELETE", "/api/v1/instances/g1/media"))
        self.assertEqual(self.cell.received[-1].type_name, "EjectMediaRequest")
        self.assertEqual(self.status()["media_attached"], False)

    def test_unknown_media_rejected(self):
        """An unknown media image is a 400, and nothing is sent."""
        sent = len(self.cell.received)
        reply = self.call(
            "POST", "/api/v1/instances/g1/media", {"source": "nope"}
        )
        self.assert_error(reply, 400, "invalid source", "'nope'")
        body = {"from_media": True, "source": "nope"}
        reply = self.call("POST", "/api/v1/instances/g1", body)
        self.assert_error(reply, 400, "invalid source")
        self.assertEqual(len(self.cell.received), sent)

    def test_insert_checks_fields(self):
        """Insert needs a source and takes only media type 0."""
        reply = self.call("POST", "/api/v1/instances/g1/media", {})
        self.assert_error(reply, 400, "source")
        body = {"source": "iso1", "type": 1}
        reply = self.call("POST", "/api/v1/instances/g1/media", body)
        self.assert_error(reply, 400, "invalid type 1")

    def test_cell_error_is_conflict(self):
        """A Cell that fails the insert gets a 409 with its message."""
        self.cell.fail["InsertMediaRequest"] = "no CD-ROM drive"
        reply = self.call(
            "POST", "/api/v1/instances/g1/media", {"source": "iso1"}
        )
        self.assert_error(reply, 409, "no CD-ROM drive")


class StoreLookupTests(SynchronousTestCase):
    """The lookup of image references in Core's image store."""

    def setUp(self):
        self.api = SimpleNamespace(images=FakeStore())

    def test_reference_with_virtual_size(self):
        """A stored image's reference gets its virtual size."""
        reference = image_reference(self.api, "disk", IMAGE)
        self.assertEqual(reference["id"], IMAGE)
        self.assertEqual(reference["virtual_size"], 8 * GIB)

    def test_store_error_becomes_unavailable(self):
        """The store's error is passed on as ImageUnavailable."""
        with self.assertRaises(ImageUnavailable) as caught:
            image_reference(self.api, "disk", "nope")
        self.assertIn("no such image", str(caught.exception))

    def test_no_store(self):
        """Without an image store, every image is unavailable."""
        with self.assertRaises(ImageUnavailable) as caught:
            image_reference(SimpleNamespace(), "media", IMAGE)
        self.assertIn("Core has no image service", str(caught.exception))


class FakeStore:
    """The two lookups of :class:`~nano.core.images.Images` used here."""

    def reference(self, kind, image_id):
        if image_id != IMAGE:
            raise ImageError(
                f"invalid {kind} image {image_id!r}: no such image"
            )
        found = reference(kind, image_id)
        del found["virtual_size"]
        return found

    def get(self, kind, image_id):
        return SimpleNamespace(file=SimpleNamespace(virtual_size=8 * GIB))
