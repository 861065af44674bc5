"""
Tests for :class:`nano.cell.storage.LocalStorage` with the real
``qemu-img`` and real files.
"""

import os
import re
import subprocess

import pytest
import pytest_twisted
from twisted.internet import reactor

from nano.cell.storage import (
    InvalidVolume,
    LocalStorage,
    StorageError,
    StorageFull,
    StorageUnwritable,
    VolumeExists,
    VolumeNotFound,
)

MIB = 1024 * 1024
GIB = 1024 * MIB

pytestmark = pytest.mark.slow


@pytest.fixture
def storage(tmp_path):
    """Storage in an empty directory."""
    directory = tmp_path / "volumes"
    directory.mkdir()
    return LocalStorage(reactor, str(directory))


@pytest.fixture
def tmpfs(tmp_path):
    """
    Mount a 512 KiB tmpfs for the test, for full and read-only file
    systems; yields a function that mounts it with extra options.
    """
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    mounted = []

    def mount(options=""):
        options = "size=512k" + (f",{options}" if options else "")
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "nano-test", mount_point],
            check=True,
        )
        mounted.append(mount_point)
        return mount_point

    yield mount
    for path in mounted:
        subprocess.run(["umount", path], check=True)


def qemu_img_info(path):
    """Read a volume's virtual size with qemu-img directly."""
    output = subprocess.run(
        ["qemu-img", "info", "-U", path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return output


class TestCreate:
    """Creating empty volumes."""

    @pytest_twisted.ensureDeferred
    async def test_create(self, storage):
        """A new volume is a qcow2 file of the requested virtual size."""
        path = await storage.create("vm1-system", 2 * GIB)
        assert path == os.path.join(storage.directory, "vm1-system.qcow2")
        info = await storage.info("vm1-system")
        assert info.virtual_size == 2 * GIB
        assert info.format == "qcow2"
        assert info.backing_file is None
        assert "virtual size: 2 GiB" in qemu_img_info(path)

    @pytest_twisted.ensureDeferred
    async def test_create_twice(self, storage):
        """A second create of the same name fails and keeps the first."""
        path = await storage.create("vm1", 2 * GIB)
        with pytest.raises(VolumeExists, match="exists already"):
            await storage.create("vm1", 4 * GIB)
        assert (await storage.info("vm1")).virtual_size == 2 * GIB
        assert os.path.exists(path)

    @pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden", 7])
    @pytest_twisted.ensureDeferred
    async def test_invalid_name(self, storage, name):
        """Names that could leave the directory are rejected."""
        with pytest.raises(InvalidVolume, match="invalid volume name"):
            await storage.create(name, GIB)
        assert os.listdir(storage.directory) == []

    @pytest.mark.parametrize("size", [0, MIB - 1, 1.5 * GIB, "1G"])
    @pytest_twisted.ensureDeferred
    async def test_invalid_size(self, storage, size):
        """Sizes below 1 MiB or not whole bytes are rejected."""
        with pytest.raises(InvalidVolume, match="at least 1 MiB"):
            await storage.create("vm1", size)
        assert os.listdir(storage.directory) == []

    @pytest_twisted.ensureDeferred
    async def test_missing_directory(self, tmp_path):
        """A missing directory is named, with what to do."""
        storage = LocalStorage(reactor, str(tmp_path / "missing"))
        with pytest.raises(StorageUnwritable) as caught:
            await storage.create("vm1", GIB)
        assert str(tmp_path / "missing") in str(caught.value)
        assert "create it" in str(caught.value)

    @pytest_twisted.ensureDeferred
    async def test_read_only(self, tmpfs):
        """A read-only file system is reported as not writable."""
        storage = LocalStorage(reactor, str(tmpfs("ro")))
        with pytest.raises(StorageUnwritable, match="is not writable"):
            await storage.create("vm1", GIB)

    @pytest_twisted.ensureDeferred
    async def test_no_space(self, tmpfs):
        """A full file system is StorageFull and leaves no file."""
        directory = tmpfs()
        with (
            open(directory / "filler", "wb") as filler,
            pytest.raises(OSError, match="No space"),
        ):
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        storage = LocalStorage(reactor, str(directory))
        with pytest.raises(StorageFull, match="No space left"):
            await storage.create("vm1", GIB)
        assert sorted(os.listdir(directory)) == ["filler"]

    def test_no_qemu_img(self, tmp_path, monkeypatch):
        """Without qemu-img the error names the package to install."""
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(StorageError, match="install the qemu-utils"):
            LocalStorage(reactor, str(tmp_path))


class TestFromImage:
    """Volumes as overlays of a base image."""

    @pytest.fixture
    def image(self, tmp_path):
        """A 64 MiB qcow2 base image."""
        path = tmp_path / "base.qcow2"
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", path, "64M"],
            check=True,
        )
        return str(path)

    @pytest_twisted.ensureDeferred
    async def test_overlay_grown(self, storage, image):
        """The volume is backed by the image and has the new size."""
        await storage.create_from_image("vm1", image, GIB)
        info = await storage.info("vm1")
        assert info.virtual_size == GIB
        assert info.backing_file == image

    @pytest_twisted.ensureDeferred
    async def test_smaller_than_image(self, storage, image):
        """A size below the image's would cut it off."""
        with pytest.raises(InvalidVolume, match="smaller than image"):
            await storage.create_from_image("vm1", image, 32 * MIB)
        assert os.listdir(storage.directory) == []

    @pytest_twisted.ensureDeferred
    async def test_missing_image(self, storage, tmp_path):
        """A missing image is named."""
        missing = str(tmp_path / "missing.qcow2")
        with pytest.raises(VolumeNotFound, match=re.escape(missing)):
            await storage.create_from_image("vm1", missing, GIB)
        assert os.listdir(storage.directory) == []

    @pytest_twisted.ensureDeferred
    async def test_relative_image(self, storage):
        """An image path must be absolute."""
        with pytest.raises(InvalidVolume, match="must be absolute"):
            await storage.create_from_image("vm1", "base.qcow2", GIB)


class TestChange:
    """Resizing and deleting."""

    @pytest_twisted.ensureDeferred
    async def test_grow(self, storage):
        """A volume grows to the new size."""
        await storage.create("vm1", GIB)
        await storage.resize("vm1", 3 * GIB)
        assert (await storage.info("vm1")).virtual_size == 3 * GIB

    @pytest_twisted.ensureDeferred
    async def test_shrink_rejected(self, storage):
        """Shrinking is rejected and the size kept."""
        await storage.create("vm1", 2 * GIB)
        with pytest.raises(InvalidVolume, match="would lose data"):
            await storage.resize("vm1", GIB)
        assert (await storage.info("vm1")).virtual_size == 2 * GIB

    @pytest_twisted.ensureDeferred
    async def test_resize_missing(self, storage):
        """Resizing a missing volume is VolumeNotFound."""
        with pytest.raises(VolumeNotFound, match=r"vm1\.qcow2"):
            await storage.resize("vm1", GIB)

    @pytest_twisted.ensureDeferred
    async def test_delete(self, storage):
        """A deleted volume is gone; deleting again is VolumeNotFound."""
        path = await storage.create("vm1", GIB)
        await storage.delete("vm1")
        assert not os.path.exists(path)
        assert not storage.exists("vm1")
        with pytest.raises(VolumeNotFound, match="not found"):
            await storage.delete("vm1")


class TestListing:
    """Listing volumes and the file system's capacity."""

    @pytest_twisted.ensureDeferred
    async def test_names(self, storage):
        """names lists volumes only, sorted."""
        await storage.create("vm2", GIB)
        await storage.create("vm1", GIB)
        other_path = os.path.join(storage.directory, "notes.txt")
        with open(other_path, "w") as other:
            other.write("not a volume")
        assert storage.names() == ["vm1", "vm2"]

    def test_capacity(self, tmpfs):
        """capacity gives the file system's total and free bytes."""
        storage = LocalStorage(reactor, str(tmpfs()))
        total, free = storage.capacity()
        assert total == 512 * 1024
        assert 0 < free <= total
