"""
Tests of the disk and media image routes: records, searches, uploads
(raw and as forms), downloads and their errors, through StubTreq.
"""

import hashlib
import subprocess
from pathlib import Path

from image_helpers import (
    ImageApiTestCase,
    form_body,
    iso_bytes,
    make_qcow2,
)

from nano.events.images import DiskImageUploaded
from nano.projections import load
from nano.projections.images import ImageProjection


class RecordTests(ImageApiTestCase):
    """Create, get, modify, list, search and delete image records."""

    def test_create_and_get(self):
        """A new image has its settings, no file and progress 0."""
        image_id = self.create_image(
            description="Debian", tags=["linux", "64bit"]
        )
        reply = self.call("GET", f"/api/v1/disk_images/{image_id}")
        self.assert_ok(reply)
        self.assertEqual(reply.data["name"], "base")
        self.assertEqual(reply.data["tags"], ["linux", "64bit"])
        self.assertEqual(reply.data["description"], "Debian")
        self.assertIs(reply.data["created"], False)
        self.assertEqual(reply.data["progress"], 0)
        self.assertEqual(reply.data["size"], 0)
        self.assertEqual(reply.data["create_time"], "2026-12-04 16:20:05")

    def test_create_requires_name_owner_group(self):
        """A create without owner names the missing field."""
        reply = self.call(
            "POST", "/api/v1/media_images/", {"name": "a", "group": "g"}
        )
        self.assert_error(reply, 400, "missing field 'owner'")

    def test_create_rejects_bad_fields(self):
        """Each invalid field gets a 400 that names it."""
        cases = [
            ({"tags": "linux"}, "invalid tags"),
            ({"tags": [""]}, "invalid tag ''"),
            ({"name": " "}, "invalid name"),
            ({"owner": "a b"}, "invalid owner name"),
            ({"size": 3}, "unknown field 'size'"),
            ({"description": "x" * 5000}, "invalid description"),
        ]
        for change, fragment in cases:
            body = {"name": "a", "owner": "o", "group": "g", **change}
            reply = self.call("POST", "/api/v1/disk_images/", body)
            self.assert_error(reply, 400, fragment)

    def test_create_from_guest_is_not_supported(self):
        """A disk image built from a guest is rejected for now."""
        reply = self.call(
            "POST",
            "/api/v1/disk_images/",
            {"name": "a", "owner": "o", "group": "g", "guest": "g1"},
        )
        self.assert_error(reply, 400, "from a guest is not supported yet")

    def test_modify_keeps_fields_left_out(self):
        """PUT changes the given fields only."""
        image_id = self.create_image(kind="media", tags=["iso"])
        reply = self.call(
            "PUT", f"/api/v1/media_images/{image_id}", {"name": "rescue"}
        )
        self.assert_ok(reply, "")
        data = self.call("GET", f"/api/v1/media_images/{image_id}").data
        self.assertEqual(data["name"], "rescue")
        self.assertEqual(data["tags"], ["iso"])
        self.assertEqual(data["owner"], "admin")

    def test_kinds_are_apart(self):
        """A media image is not found under the disk image routes."""
        image_id = self.create_image(kind="media")
        reply = self.call("GET", f"/api/v1/disk_images/{image_id}")
        self.assert_error(reply, 404, f"disk image {image_id!r} not found")

    def test_list_and_search(self):
        """Searches filter by owner, group and every tag given."""
        a = self.create_image(name="a", tags=["linux", "64bit"])
        b = self.create_image(name="b", owner="bob", tags=["linux"])
        self.create_image(kind="media", name="m")
        search = "/api/v1/disk_image_search/"
        linux = self.call("GET", f"{search}?tags=linux").data
        self.assertEqual([image["id"] for image in linux], [a, b])
        both = self.call("GET", f"{search}?tags=linux&tags=64bit").data
        self.assertEqual([image["id"] for image in both], [a])
        bobs = self.call("GET", f"{search}?owner=bob&session=s1").data
        self.assertEqual([image["id"] for image in bobs], [b])
        media = self.call("GET", "/api/v1/media_images/").data
        self.assertEqual([image["name"] for image in media], ["m"])

    def test_search_rejects_unknown_filter(self):
        """An unknown filter names the accepted ones."""
        reply = self.call("GET", "/api/v1/media_image_search/?tags=x")
        self.assert_error(reply, 400, "unknown filter 'tags'")

    def test_delete(self):
        """A deleted image is gone, and the journal shows it."""
        image_id = self.create_image()
        self.assert_ok(self.call("DELETE", f"/api/v1/disk_images/{image_id}"))
        reply = self.call("GET", f"/api/v1/disk_images/{image_id}")
        self.assert_error(reply, 404)
        reloaded = load(ImageProjection(), self.journal).state
        self.assertNotIn(image_id, reloaded)

    def test_unsigned_request_is_rejected(self):
        """Image routes check signatures like every other route."""
        reply = self.send("GET", "/api/v1/media_images/", {"host": "x"})
        self.assert_error(reply, 401, "missing Nano-Authorization")


class UploadTests(ImageApiTestCase):
    """Upload files: checks, storage, records and errors."""

    def setUp(self):
        super().setUp()
        self.qcow2 = make_qcow2(Path(self.mktemp())).read_bytes()

    def test_raw_qcow2_upload(self):
        """A raw qcow2 body is stored, hashed and recorded."""
        image_id = self.create_image()
        reply = self.upload("disk", image_id, self.qcow2)
        self.assert_ok(reply, "")
        self.assertEqual(self.files(), [f"{image_id}.qcow2"])
        data = self.call("GET", f"/api/v1/disk_images/{image_id}").data
        self.assertIs(data["created"], True)
        self.assertEqual(data["progress"], 100)
        self.assertEqual(data["size"], len(self.qcow2))
        self.assertEqual(data["virtual_size"], 64 * 1024**2)
        self.assertEqual(data["format"], "qcow2")
        self.assertEqual(
            data["sha256"], hashlib.sha256(self.qcow2).hexdigest()
        )

    def test_upload_work_runs_off_the_reactor(self):
        """Hashing, checking and syncing go through run_blocking."""
        image_id = self.create_image()
        self.upload("disk", image_id, self.qcow2)
        self.assertEqual(self.blocking_calls, ["_store"])

    def test_upload_is_journalled(self):
        """The journal has the file's record after an upload."""
        image_id = self.create_image()
        self.upload("disk", image_id, self.qcow2)
        events = [event for _, event in self.journal.read()]
        self.assertIsInstance(events[-1], DiskImageUploaded)
        self.assertEqual(events[-1].size, len(self.qcow2))
        reloaded = load(ImageProjection(), self.journal).state
        self.assertEqual(reloaded[image_id].file.size, len(self.qcow2))

    def test_form_upload_of_an_iso(self):
        """A form upload stores only the field named image."""
        image_id = self.create_image(kind="media")
        iso = iso_bytes()
        body, content_type = form_body(
            [("checksum", None, b"ignored"), ("image", "a.iso", iso)]
        )
        reply = self.upload("media", image_id, body, content_type)
        self.assert_ok(reply, "")
        stored = self.root / "media" / f"{image_id}.iso"
        self.assertEqual(stored.read_bytes(), iso)

    def test_form_field_file_is_accepted(self):
        """The file may also come in a field named file."""
        image_id = self.create_image()
        body, content_type = form_body([("file", "a.qcow2", self.qcow2)])
        reply = self.upload("disk", image_id, body, content_type)
        self.assert_ok(reply, "")

    def test_form_without_file_field(self):
        """A form with no file field is rejected and leaves nothing."""
        image_id = self.create_image()
        body, content_type = form_body([("other", "a", self.qcow2)])
        reply = self.upload("disk", image_id, body, content_type)
        self.assert_error(reply, 400, "expected one file field")
        self.assertEqual(self.files(), [])

    def test_cut_form(self):
        """A form cut short is rejected and leaves nothing."""
        image_id = self.create_image()
        body, content_type = form_body([("image", "a", self.qcow2)])
        reply = self.upload("disk", image_id, body[:-40], content_type)
        self.assert_error(reply, 400, "invalid multipart/form-data body")
        self.assertEqual(self.files(), [])

    def test_form_without_boundary(self):
        """A form content type without a boundary is rejected."""
        image_id = self.create_image()
        reply = self.upload(
            "disk", image_id, self.qcow2, "multipart/form-data"
        )
        self.assert_error(reply, 400, "missing boundary")
        self.assertEqual(self.files(), [])

    def test_not_a_qcow2(self):
        """A file without the qcow2 magic is rejected by name."""
        image_id = self.create_image()
        reply = self.upload("disk", image_id, b"hello" * 1000)
        self.assert_error(reply, 400, "not a qcow2 image", "68656c6c")
        self.assertEqual(self.files(), [])
        data = self.call("GET", f"/api/v1/disk_images/{image_id}").data
        self.assertIs(data["created"], False)

    def test_truncated_qcow2(self):
        """A qcow2 file cut short is rejected as truncated."""
        image_id = self.create_image()
        path = Path(self.mktemp())
        make_qcow2(path)
        full = _qcow2_with_data(path)
        reply = self.upload("disk", image_id, full[: len(full) // 2])
        self.assert_error(reply, 400, "truncated or damaged qcow2 image")
        self.assertEqual(self.files(), [])

    def test_qcow2_header_only(self):
        """A qcow2 file shorter than its header is rejected."""
        image_id = self.create_image()
        reply = self.upload("disk", image_id, self.qcow2[:100])
        self.assert_error(reply, 400, "invalid qcow2 image", "too short")

    def test_not_an_iso(self):
        """A file without CD001 is rejected."""
        image_id = self.create_image(kind="media")
        reply = self.upload("media", image_id, bytes(20 * 2048))
        self.assert_error(reply, 400, "not an ISO 9660 image", "CD001")

    def test_truncated_iso(self):
        """An ISO that ends inside a sector is rejected as truncated."""
        image_id = self.create_image(kind="media")
        reply = self.upload("media", image_id, iso_bytes()[:-100])
        self.assert_error(reply, 400, "truncated ISO 9660 image")
        self.assertEqual(self.files("media"), [])

    def test_small_iso(self):
        """A file smaller than an ISO's system area is rejected."""
        image_id = self.create_image(kind="media")
        reply = self.upload("media", image_id, b"CD001")
        self.assert_error(reply, 400, "5 bytes is smaller")

    def test_unknown_image(self):
        """An upload to an unknown image is a 404."""
        reply = self.upload("disk", "nope", self.qcow2)
        self.assert_error(reply, 404, "disk image 'nope' not found")
        self.assertEqual(self.files(), [])

    def test_second_upload_conflicts(self):
        """An image that has a file rejects another upload."""
        image_id = self.create_image()
        self.upload("disk", image_id, self.qcow2)
        reply = self.upload("disk", image_id, self.qcow2)
        self.assert_error(reply, 409, "has a file already")

    def test_unsigned_upload(self):
        """An unsigned upload is rejected and nothing is written."""
        image_id = self.create_image()
        reply = self.upload("disk", image_id, self.qcow2, signed=False)
        self.assert_error(reply, 401)
        self.assertEqual(self.files(), [])

    def test_upload_signed_with_its_body_hash(self):
        """A signature over the body's hash does not fit an upload."""
        image_id = self.create_image()
        path = f"/api/v1/disk_images/{image_id}/file/"
        reply = self.call("POST", path, self.qcow2)
        self.assert_error(reply, 401, "signature mismatch")

    def test_delete_removes_the_file(self):
        """Deleting an image removes its file after the record."""
        image_id = self.create_image()
        self.upload("disk", image_id, self.qcow2)
        self.assert_ok(self.call("DELETE", f"/api/v1/disk_images/{image_id}"))
        self.assertEqual(self.files(), [])


class DownloadTests(ImageApiTestCase):
    """
    Download errors through the API. twisted.web sends a file through
    the global reactor's cooperator, so the download itself is tested
    on a real nano-core process.
    """

    def test_download_without_file(self):
        """An image with no file yet gives a 409 naming the upload."""
        image_id = self.create_image(kind="media")
        reply = self.call("GET", f"/api/v1/media_images/{image_id}/file/")
        self.assert_error(reply, 409, "has no file yet", "POST")

    def test_download_unsigned(self):
        """A download needs a signature."""
        image_id = self.create_image()
        path = f"/api/v1/disk_images/{image_id}/file/"
        reply = self.send("GET", path, {"host": "x"})
        self.assert_error(reply, 401)


def _qcow2_with_data(path: Path) -> bytes:
    """Write 4 MiB into a qcow2 image with qemu-io; return the file."""
    subprocess.run(
        ["qemu-io", "-c", "write -P 0xab 0 4M", str(path)],
        check=True,
        capture_output=True,
    )
    return path.read_bytes()
