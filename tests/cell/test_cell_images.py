"""
The Cell's image cache, and instances created from a disk image, with a
fake download in place of Core's image service.
"""

from pathlib import Path

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from nano.cell._image_cache import ImageCache

from .cell_helpers import CORE_ADDRESS, GIB, new_id
from .test_cell_handlers import HandlerTestCase, create_request

CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def reference(kind="disk", sha256="ab" * 32, size=4096):
    """Return an image reference as Core sends one."""
    return {
        "id": f"image-{sha256[:4]}",
        "kind": kind,
        "sha256": sha256,
        "size": size,
        "port": 5871,
        "ca_certificate": CERTIFICATE,
        "token": "0f" * 32,
    }


class FakeFetch:
    """
    A download that writes ``content`` to the destination.

    :ivar calls: ``(host, image id, destination)`` of each download.
    :ivar held: the Deferreds of held downloads, when ``hold`` is set.
    :ivar error: an exception each download fails with, if set.
    """

    def __init__(self, content=b"image"):
        self.content = content
        self.calls = []
        self.hold = False
        self.held = []
        self.error = None

    def __call__(self, reactor, host, reference, destination):
        self.calls.append((host, reference["id"], destination))
        if self.error is not None:
            return fail(self.error)
        if self.hold:
            waiting = Deferred()
            waiting.addCallback(lambda _: self._write(destination))
            self.held.append(waiting)
            return waiting
        return succeed(self._write(destination))

    def _write(self, destination):
        Path(destination).write_bytes(self.content)
        return destination


class ImageCacheTests(SynchronousTestCase):
    """ImageCache on a fake download."""

    def setUp(self):
        self.clock = Clock()
        self.fetch = FakeFetch()
        self.directory = Path(self.mktemp()) / "images"
        self.cache = ImageCache(self.clock, self.directory, self.fetch)

    def test_fetch_once(self):
        """The first get downloads, the second uses the cached file."""
        first = self.successResultOf(self.cache.get("10.0.0.1", reference()))
        second = self.successResultOf(self.cache.get("10.0.0.1", reference()))
        self.assertEqual(first, self.directory / f"{'ab' * 32}.qcow2")
        self.assertEqual(second, first)
        self.assertEqual(len(self.fetch.calls), 1)
        self.assertEqual(self.cache.fetches, 1)
        self.assertEqual(self.fetch.calls[0][0], "10.0.0.1")

    def test_concurrent_gets_share(self):
        """Two gets of one checksum while it downloads share it."""
        self.fetch.hold = True
        first = self.cache.get("h", reference())
        second = self.cache.get("h", reference())
        self.assertNoResult(first)
        self.assertNoResult(second)
        self.assertEqual(len(self.fetch.calls), 1)
        self.fetch.held[0].callback(None)
        path = self.successResultOf(first)
        self.assertEqual(path.suffix, ".qcow2")
        self.assertEqual(self.successResultOf(second), path)

    def test_media_suffix(self):
        """A media image is cached as an ISO."""
        path = self.successResultOf(
            self.cache.get("h", reference("media", "cd" * 32))
        )
        self.assertEqual(path.name, f"{'cd' * 32}.iso")
        self.assertEqual(self.cache.files(), [path])

    def test_failure_shared_and_retried(self):
        """A failed download fails every waiter, and the next get retries."""
        self.fetch.error = RuntimeError("checksum mismatch")
        first = self.cache.get("h", reference())
        self.failureResultOf(first, RuntimeError)
        self.assertEqual(self.cache.files(), [])
        self.fetch.error = None
        self.successResultOf(self.cache.get("h", reference()))
        self.assertEqual(len(self.fetch.calls), 2)

    def test_fetch_raising_at_once(self):
        """A download that raises at once fails the get, and can retry."""

        def broken(reactor, host, reference, destination):
            raise ImportError("no fetch_image")

        cache = ImageCache(self.clock, self.directory, broken)
        self.failureResultOf(cache.get("h", reference()), ImportError)
        self.failureResultOf(cache.get("h", reference()), ImportError)

    def test_fetch_logged(self):
        """The fetch is logged with its size and duration."""
        self.fetch.hold = True
        with capturedLogs() as events:
            got = self.cache.get("h", reference(size=4096))
            self.clock.advance(2.5)
            self.fetch.held[0].callback(None)
        self.successResultOf(got)
        done = [e for e in events if e.get("duration") is not None]
        self.assertEqual(len(done), 1)
        self.assertEqual(done[0]["size"], 4096)
        self.assertEqual(done[0]["duration"], 2.5)


class CreateFromImageTests(HandlerTestCase):
    """CreateInstanceRequest with ``from_image``."""

    def setUp(self):
        super().setUp()
        self.fetch = FakeFetch(content=str(8 * GIB).encode())
        images = Path(self.cell.settings.storage_directory) / "images"
        self.cell.parts.handlers.images = ImageCache(
            self.cell.clock, images, self.fetch
        )
        self.images = images

    def test_overlay_of_cached_image(self):
        """The system volume is an overlay of the image fetched from Core."""
        instance_id, reply = self.create(from_image=reference())
        cached = self.images / f"{'ab' * 32}.qcow2"
        self.assertTrue(cached.exists())
        self.assertEqual(self.fetch.calls[0][0], CORE_ADDRESS[0])
        self.assertEqual(reply.instance["image"], str(cached))
        self.assertEqual(self.cell.book.get(instance_id).image, str(cached))
        self.assertEqual(self.cell.storage.names(), [f"{instance_id}-0"])

    def test_second_instance_fetches_nothing(self):
        """A second instance from the same image uses the cached file."""
        self.create(from_image=reference())
        self.create(from_image=reference(), task_id="task-2")
        self.assertEqual(len(self.fetch.calls), 1)
        self.assertEqual(len(self.cell.storage.names()), 2)

    def test_image_larger_than_disk(self):
        """An image larger than the system disk fails the create."""
        instance_id = new_id()
        text = self.fails(
            create_request(
                instance_id, from_image=reference(), disks=[4 * GIB]
            ),
            "smaller than image",
            str(8 * GIB),
        )
        self.assertIn("rolled back", text)
        self.assert_nothing_left(instance_id)

    def test_fetch_failure_journals_nothing(self):
        """A failed download fails the create before anything is made."""
        self.fetch.error = RuntimeError("TLS verification failed")
        instance_id = new_id()
        self.fails(
            create_request(instance_id, from_image=reference()),
            "fetching disk image image-abab failed",
            "TLS verification failed",
        )
        self.assertEqual(self.cell.journal_types(), [])
        self.assert_nothing_left(instance_id)
