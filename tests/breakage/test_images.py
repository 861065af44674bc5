"""
Defects found by using Core's image routes as a new user would.

Each test shows one defect and is marked ``xfail(strict=True)``, so the
suite stays green until the defect is fixed, and then the mark must go.
The tests drive Core's API in memory, as tests/core/images does.
"""

import errno
import socket
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

TESTS = Path(__file__).parents[1]
sys.path[:0] = [
    str(TESTS),
    str(TESTS / "core"),
    str(TESTS / "core" / "images"),
]

from cli.processes import Cell, free_port, wait_until  # noqa: E402
from image_helpers import ImageApiTestCase  # noqa: E402

from nano.core.images import _upload  # noqa: E402

SECTOR = 2048


def iso_image(sectors: int) -> bytes:
    """
    Return an ISO 9660 image of ``sectors`` sectors whose primary volume
    descriptor states that size, as genisoimage writes it.
    """
    volume_size = sectors.to_bytes(4, "little") + sectors.to_bytes(4, "big")
    descriptor = bytearray(b"\x01CD001\x01".ljust(SECTOR, b"\x00"))
    descriptor[80:88] = volume_size
    data = bytes(16 * SECTOR) + bytes(descriptor)
    return data.ljust(sectors * SECTOR, b"\x00")


class MediaUploadTests(ImageApiTestCase):
    """Uploads of ISO files that are not whole."""

    def test_iso_cut_at_sector_rejected(self):
        """
        An ISO whose primary volume descriptor states 175 sectors, cut
        after 20 sectors (a download stopped at a 4 KiB boundary), is
        rejected as truncated and leaves no file.
        """
        image_id = self.create_image("media")
        whole = iso_image(175)

        reply = self.upload("media", image_id, whole[: 20 * SECTOR])

        self.assertEqual(reply.status, 400, reply.message)
        self.assertIn("truncated", reply.message)
        self.assertIn("175", reply.message)


class FullDisk:
    """A partial file whose writes fail as on a full file system."""

    def __init__(self, path, mode):
        self._file = open(path, mode)  # noqa: SIM115

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self):
        self._file.close()


class FullDiskUploadTests(ImageApiTestCase):
    """An upload that fills Core's disk."""

    def test_full_disk_gets_error_reply(self):
        """
        When the partial file cannot be written because the disk is
        full, the client gets an error naming the cause, and no partial
        file stays behind.
        """
        _upload.open = FullDisk
        self.addCleanup(delattr, _upload, "open")
        image_id = self.create_image("media")

        reply = self.upload("media", image_id, bytes(64 * 1024))

        self.assertIn(reply.status, (503, 507), reply.message)
        self.assertIn("space", reply.message)
        self.assertEqual(self.files("media"), [])


class ImageSearchTests(ImageApiTestCase):
    """Image searches with query strings a client may send."""

    def test_search_filter_not_utf8(self):
        """
        An ``owner`` filter whose percent-escapes are not UTF-8 gets 400
        naming the filter, not an internal error.
        """
        reply = self.call("GET", "/api/v1/disk_image_search/?owner=%ff%fe")

        self.assert_error(reply, 400, "owner")


@pytest.mark.slow
def test_cell_start_removes_partial_download(tmp_path):
    """
    A Cell killed during an image download leaves
    ``images/<sha256>.qcow2.partial``, and the next start removes it.
    Nothing else does unless the same image is fetched again.
    """
    images = tmp_path / "cell-data" / "volumes" / "images"
    images.mkdir(parents=True)
    partial = images / (64 * "a" + ".qcow2.partial")
    partial.write_bytes(bytes(1 << 20))
    no_core = SimpleNamespace(fabric_port=free_port(socket.SOCK_DGRAM))
    cell = Cell(tmp_path, no_core)

    cell.start()
    try:
        wait_until(lambda: "ready with" in cell.log(), 20, "the Cell")
    finally:
        cell.stop()

    assert not partial.exists()


class ImagePathTests(ImageApiTestCase):
    """Image paths with escapes a client may send."""

    def test_image_id_not_utf8(self):
        """
        An image id whose percent-escapes are not UTF-8 gets the JSON
        envelope with an error code, as every other failure does.
        """
        reply = self.call("GET", "/api/v1/media_images/%ff")

        self.assertEqual(reply.error_code, reply.status)
        self.assertGreaterEqual(reply.status, 400)
        self.assertLess(reply.status, 500)
