"""
The volume directories that QEMU opens files in, made under twistd's
daemon umask 077.
"""

import os
import shutil
import stat
import tempfile
from pathlib import Path

import orjson
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from nano.cell import tap
from nano.cell.storage import closed_directory, make_passable_directory


def passable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXOTH)


def open_root(case) -> Path:
    """
    Return a new directory that others can reach; pytest's own temporary
    directories sit under a 0700 one.
    """
    root = Path(tempfile.mkdtemp(prefix="nano-storage-", dir="/var/tmp"))
    os.chmod(root, 0o755)
    case.addCleanup(shutil.rmtree, root)
    return root


class PassableDirectoryTests(SynchronousTestCase):
    """make_passable_directory and closed_directory."""

    def setUp(self):
        self.root = open_root(self)
        previous = os.umask(0o077)
        self.addCleanup(os.umask, previous)

    def test_creates_parents_passable(self):
        """Every directory it creates lets others pass but not list."""
        path = self.root / "data" / "volumes" / "images"
        make_passable_directory(path)
        for directory in (path, path.parent, path.parent.parent):
            mode = stat.S_IMODE(directory.stat().st_mode)
            self.assertEqual(mode, 0o711, f"{directory}: {oct(mode)}")

    def test_existing_directory_kept(self):
        """An existing directory keeps its mode."""
        existing = self.root / "private"
        existing.mkdir(mode=0o700)
        make_passable_directory(existing / "volumes")
        self.assertEqual(stat.S_IMODE(existing.stat().st_mode), 0o700)
        self.assertTrue(passable(existing / "volumes"))

    def test_closed_directory_named(self):
        """The first directory others cannot pass is returned."""
        closed = self.root / "closed"
        closed.mkdir(mode=0o700)
        make_passable_directory(closed / "volumes")
        self.assertEqual(closed_directory(closed / "volumes"), closed)
        os.chmod(closed, 0o711)
        self.assertIsNone(closed_directory(closed / "volumes"))


class CellStorageBuildTests(SynchronousTestCase):
    """A Cell built under twistd's daemon umask."""

    def build(self, data: Path):
        config = Path(self.mktemp())
        config.mkdir(parents=True)
        (config / "domain.cfg").write_bytes(
            orjson.dumps({"secret": bytes(range(32)).hex()})
        )
        options = tap.Options()
        arguments = ["--config", str(config), "--data", str(data)]
        options.parseOptions([*arguments, "--domain-type", "qemu"])
        previous = os.umask(0o077)
        try:
            service = tap.makeService(options, MemoryReactorClock())
        finally:
            os.umask(previous)
        self.addCleanup(service.parts.service.journal.close)

    def test_volumes_reachable_by_qemu(self):
        """QEMU's unprivileged user can pass into the volume directory."""
        data = open_root(self) / "cell"
        self.build(data)
        self.assertIsNone(closed_directory(data / "volumes"))

    def test_closed_parent_warned(self):
        """A parent that others cannot pass is named in a warning."""
        root = open_root(self) / "closed"
        root.mkdir(mode=0o700)
        warnings = []

        def observe(event):
            if event["log_level"] is LogLevel.warn:
                warnings.append(event)

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        self.build(root / "cell")
        named = [event.get("directory") for event in warnings]
        self.assertIn(str(root), named)
