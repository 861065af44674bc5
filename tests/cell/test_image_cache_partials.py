"""Tests of the start-up cleanup of the Cell's image cache."""

from pathlib import Path

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nano.cell._image_cache import ImageCache


class RemovePartialsTests(SynchronousTestCase):
    """ImageCache.remove_partials on a cache directory after a crash."""

    def setUp(self):
        self.directory = Path(self.mktemp()) / "images"
        self.cache = ImageCache(Clock(), self.directory)

    def test_partials_removed(self):
        """Partial downloads go, cached images and other files stay."""
        self.directory.mkdir(parents=True)
        partial = self.directory / f"{'a' * 64}.qcow2.partial"
        cached = self.directory / f"{'b' * 64}.iso"
        other = self.directory / "notes.txt"
        for path in (partial, cached, other):
            path.write_bytes(b"x")

        removed = self.cache.remove_partials()

        self.assertEqual(removed, [partial])
        self.assertFalse(partial.exists())
        self.assertTrue(cached.exists())
        self.assertTrue(other.exists())

    def test_missing_directory(self):
        """A cache that never fetched anything has nothing to remove."""
        self.assertEqual(self.cache.remove_partials(), [])
        self.assertFalse(self.directory.exists())
