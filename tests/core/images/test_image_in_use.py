"""
Tests that an image a guest uses cannot be deleted: a disk image that
a guest was created from, and a media image in a CD-ROM drive.
"""

from types import SimpleNamespace

from guest_helpers import GuestTestCase
from image_helpers import ImageApiTestCase
from pyrsistent import pmap
from test_guest_images import FakeImages


class DeleteInUseTests(ImageApiTestCase):
    """DELETE of an image that guests use, with their state stubbed."""

    def guests_from(self, image_id):
        """Make guest web1 look created from ``image_id``."""
        guest = SimpleNamespace(id="g1", name="web1", image=image_id)
        self.patch(self.api.guests, "state", pmap({"g1": guest}))

    def drives_with(self, image_id):
        """Make a Cell report instance db1 (g2) with ``image_id`` inserted."""
        instances = {"g2": {"name": "db1", "media": image_id}}
        cell = SimpleNamespace(instances=instances)
        self.patch(self.api.cluster, "cells", lambda: [cell])

    def test_disk_image_of_guest(self):
        """A disk image that a guest was created from gets 409."""
        image_id = self.create_image("disk")
        self.guests_from(image_id)

        reply = self.call("DELETE", f"/api/v1/disk_images/{image_id}")

        self.assert_error(reply, 409, "web1 (g1)", "delete those guests")
        self.assertEqual(len(self.images.of_kind("disk")), 1)

    def test_media_image_in_drive(self):
        """A media image in a guest's CD-ROM drive gets 409."""
        image_id = self.create_image("media")
        self.drives_with(image_id)

        reply = self.call("DELETE", f"/api/v1/media_images/{image_id}")

        self.assert_error(reply, 409, "db1 (g2)", "eject it first")
        self.assertEqual(len(self.images.of_kind("media")), 1)

    def test_unused_image_deleted(self):
        """An image that no guest uses is deleted."""
        image_id = self.create_image("media")
        self.guests_from("another")
        self.drives_with("another")

        reply = self.call("DELETE", f"/api/v1/media_images/{image_id}")

        self.assertEqual(reply.status, 200, reply.message)
        self.assertEqual(self.images.of_kind("media"), [])


class MediaNotedTests(GuestTestCase):
    """Core notes the media in a drive in its Cell's instance list."""

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

    def media_in_list(self):
        """Return the media that Core's list of Cell_1 shows for g1."""
        cell = self.api.cluster.cell("Cell_1")
        return cell.instances["g1"].get("media")

    def test_insert_and_eject_noted(self):
        """Insert sets the media image id, eject clears it."""
        body = {"source": "iso1", "type": 0}
        self.assert_ok(self.call("POST", "/api/v1/instances/g1/media", body))
        self.assertEqual(self.media_in_list(), "iso1")

        self.assert_ok(self.call("DELETE", "/api/v1/instances/g1/media"))
        self.assertIsNone(self.media_in_list())

    def test_start_from_media_noted(self):
        """A start from a media image sets its id."""
        body = {"from_media": True, "source": "iso1"}
        self.assert_ok(self.call("POST", "/api/v1/instances/g1", body))
        self.assertEqual(self.media_in_list(), "iso1")
