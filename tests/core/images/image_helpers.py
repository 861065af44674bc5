"""
Test files for the image store, and an API test case with the image
routes and the streaming upload request of Core's API server.
"""

import subprocess
from pathlib import Path

from api_helpers import (
    API_ID,
    API_KEY,
    HOST,
    ApiTestCase,
    Reply,
    SynchronousThread,
)

from nano.core.api import serve_images
from nano.core.api._uploads import upload_request_factory
from nano.core.images import Images
from nano.signing import Request, sign

SECTOR = 2048


def make_qcow2(path: Path, size="64M") -> Path:
    """Create a real qcow2 image with ``qemu-img create``."""
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(path), size],
        check=True,
    )
    return path


def iso_bytes(sectors: int = 20) -> bytes:
    """
    Return the start of an ISO 9660 image: an empty system area and a
    primary volume descriptor, padded to ``sectors`` sectors.
    """
    descriptor = b"\x01CD001\x01".ljust(SECTOR, b"\x00")
    data = bytes(16 * SECTOR) + descriptor
    return data.ljust(sectors * SECTOR, b"\x00")


def form_body(fields, boundary="nano-test-boundary") -> tuple[bytes, str]:
    """
    Return a ``multipart/form-data`` body and its content type.

    :param fields: ``(name, filename or None, data)`` triples.
    """
    parts = []
    for name, filename, data in fields:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        parts.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class ImageApiTestCase(ApiTestCase):
    """Core's API with an image store in a temporary directory."""

    def setUp(self):
        super().setUp()
        self.root = Path(self.mktemp())
        self.blocking_calls = []
        self.images = Images(
            self.live, self.root, self.clock, self.run_blocking
        )
        serve_images(self.api, self.images)
        # StubTreq serves through a plain Site: give it Core's request
        # class, which streams uploads.
        site = self.stub._agent._serverFactory
        site.requestFactory = upload_request_factory(self.api)

    def run_blocking(self, function, *args):
        """Run blocking work at once, as the tests' thread."""
        self.blocking_calls.append(function.__name__)
        return SynchronousThread().run(function, *args)

    def create_image(self, kind="disk", **fields) -> str:
        """Create an image record and return its id."""
        body = {"name": "base", "owner": "admin", "group": "ops", **fields}
        reply = self.call("POST", f"/api/v1/{kind}_images/", body)
        self.assertEqual(reply.status, 201, reply.message)
        return reply.data["id"]

    def upload(self, kind, image_id, data, content_type=None, signed=True):
        """POST a file, signed as a streamed upload; return the Reply."""
        path = f"/api/v1/{kind}_images/{image_id}/file/"
        headers = {"host": HOST}
        if content_type is not None:
            headers["content-type"] = content_type
        if signed:
            request = Request("POST", path, "", headers, b"")
            headers.update(
                sign(request, API_ID, API_KEY, self.now(), streamed=True)
            )
        return self.send("POST", path, headers, data)

    def files(self, kind="disk") -> list[str]:
        """Return the names of the files in a kind's directory."""
        return sorted(path.name for path in (self.root / kind).iterdir())


__all__ = ["HOST", "ImageApiTestCase", "Reply"]
