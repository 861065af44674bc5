"""
Tests of uploads while their body arrives: progress, conflicts, and a
client that disconnects mid-body, on Core's HTTP server over a string
transport.
"""

from pathlib import Path

from api_helpers import API_ID, API_KEY
from image_helpers import HOST, ImageApiTestCase, make_qcow2
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from nano.core.api import api_site
from nano.events.images import DiskImageUploaded
from nano.signing import Request, sign


class StreamingTests(ImageApiTestCase):
    """An upload whose body is still arriving."""

    def setUp(self):
        super().setUp()
        self.qcow2 = make_qcow2(Path(self.mktemp())).read_bytes()
        self.image_id = self.create_image()
        self.site = api_site(self.api)

    def start_upload(self, image_id=None):
        """
        Send an upload's headers and half its body; return the server's
        channel, whose transport is :attr:`transport`.
        """
        image_id = image_id or self.image_id
        path = f"/api/v1/disk_images/{image_id}/file/"
        headers = {"host": HOST, "content-type": "application/octet-stream"}
        request = Request("POST", path, "", headers, b"")
        headers.update(sign(request, API_ID, API_KEY, self.now(), True))
        headers["content-length"] = str(len(self.qcow2))
        head = f"POST {path} HTTP/1.1\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        channel = self.site.buildProtocol(None)
        self.transport = StringTransport()
        channel.makeConnection(self.transport)
        channel.dataReceived(head.encode() + b"\r\n")
        channel.dataReceived(self.qcow2[: len(self.qcow2) // 2])
        return channel

    def partial_files(self):
        return [name for name in self.files() if name.endswith(".partial")]

    def test_progress_while_receiving(self):
        """GET shows the bytes received and the percentage."""
        channel = self.start_upload()
        data = self.call("GET", f"/api/v1/disk_images/{self.image_id}").data
        self.assertIs(data["created"], False)
        self.assertEqual(data["uploaded"], len(self.qcow2) // 2)
        half = len(self.qcow2) // 2
        self.assertEqual(data["progress"], half * 100 // len(self.qcow2))
        self.assertEqual(len(self.partial_files()), 1)
        channel.connectionLost(Failure(ConnectionDone()))

    def test_disconnect_mid_body(self):
        """A client that disconnects leaves no file and no record."""
        channel = self.start_upload()
        channel.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.files(), [])
        self.assertIsNone(self.images.progress(self.image_id))
        data = self.call("GET", f"/api/v1/disk_images/{self.image_id}").data
        self.assertIs(data["created"], False)
        self.assertNotIn("uploaded", data)
        events = [event for _, event in self.journal.read()]
        self.assertFalse(
            any(isinstance(event, DiskImageUploaded) for event in events)
        )

    def test_upload_again_after_disconnect(self):
        """An image whose upload was cut short accepts a new one."""
        channel = self.start_upload()
        channel.connectionLost(Failure(ConnectionDone()))
        reply = self.upload("disk", self.image_id, self.qcow2)
        self.assert_ok(reply, "")
        self.assertEqual(self.files(), [f"{self.image_id}.qcow2"])

    def test_delete_during_upload(self):
        """An image being uploaded cannot be deleted."""
        channel = self.start_upload()
        reply = self.call("DELETE", f"/api/v1/disk_images/{self.image_id}")
        self.assert_error(reply, 409, "is being uploaded")
        channel.connectionLost(Failure(ConnectionDone()))

    def test_second_upload_during_upload(self):
        """A second upload of the same image is rejected."""
        channel = self.start_upload()
        reply = self.upload("disk", self.image_id, self.qcow2)
        self.assert_error(reply, 409, "being uploaded by another request")
        self.assertEqual(len(self.partial_files()), 1)
        channel.connectionLost(Failure(ConnectionDone()))

    def test_completed_body_is_stored(self):
        """The rest of the body completes the upload and the reply."""
        channel = self.start_upload()
        channel.dataReceived(self.qcow2[len(self.qcow2) // 2 :])
        self.clock.advance(0)
        reply = self.transport.value()
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 "), reply[:200])
        self.assertEqual(self.files(), [f"{self.image_id}.qcow2"])


class LeftoverTests(ImageApiTestCase):
    """Files that no record owns are removed at start-up."""

    def test_remove_leftovers(self):
        """Partial files and unrecorded image files are removed."""
        image_id = self.create_image()
        qcow2 = make_qcow2(Path(self.mktemp())).read_bytes()
        self.upload("disk", image_id, qcow2)
        stray = self.root / "disk" / "0123.qcow2"
        partial = self.root / "media" / ".upload-x-y.partial"
        stray.write_bytes(b"x")
        partial.write_bytes(b"y")
        removed = self.images.remove_leftovers()
        self.assertEqual(removed, [stray, partial])
        self.assertEqual(self.files(), [f"{image_id}.qcow2"])
        self.assertEqual(self.files("media"), [])
