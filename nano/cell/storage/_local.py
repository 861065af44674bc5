"""
qcow2 volumes in one local directory, made and changed with ``qemu-img``
run as a child process, so that the reactor does not wait for image I/O.
Only quick file system calls (stat, open, unlink) run on the reactor
thread.
"""

import contextlib
import errno
import json
import os
import re
import shutil

import attrs
from twisted.internet.defer import fail, succeed
from twisted.internet.utils import getProcessOutputAndValue
from twisted.logger import Logger

from ._errors import (
    InvalidVolume,
    StorageError,
    StorageFull,
    StorageUnwritable,
    VolumeExists,
    VolumeNotFound,
)

MIN_SIZE = 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SUFFIX = ".qcow2"
_FULL = ("No space left on device", "Disk quota exceeded")
_UNWRITABLE = ("Permission denied", "Read-only file system")


@attrs.frozen
class VolumeInfo:
    """
    A volume's properties as ``qemu-img info`` reports them.

    :ivar path: the volume file.
    :ivar virtual_size: the disk size presented to the guest, in bytes.
    :ivar actual_size: bytes used on the host's disk.
    :ivar backing_file: the image it is an overlay of, or ``None``.
    :ivar format: the image format, such as ``qcow2`` or ``raw``.
    """

    path: str
    virtual_size: int
    actual_size: int
    backing_file: str | None
    format: str


class LocalStorage:
    """
    The Cell's local volumes: ``<directory>/<name>.qcow2``.

    Every method returns a Deferred and fails with a
    :exc:`StorageError` subclass whose message names the path.

    :param reactor: provides ``IReactorProcess``.
    :param directory: where the volumes live; it must exist.
    :param qemu_img: the ``qemu-img`` program, found on ``PATH`` if
        ``None``.
    """

    log = Logger()

    def __init__(self, reactor, directory, qemu_img=None):
        self._reactor = reactor
        self.directory = os.path.abspath(directory)
        self._qemu_img = qemu_img or shutil.which("qemu-img")
        if self._qemu_img is None:
            raise StorageError(
                "qemu-img not found on PATH: install the qemu-utils package"
            )

    def path(self, name):
        """
        Return the file path of volume ``name``.

        :raises InvalidVolume: the name is not 1 to 128 letters, digits,
            dots, dashes or underscores starting with a letter or digit.
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidVolume(
                f"invalid volume name {name!r}: use 1 to 128 letters, "
                "digits, '.', '-' or '_', starting with a letter or digit"
            )
        return os.path.join(self.directory, name + _SUFFIX)

    def create(self, name, size):
        """
        Create an empty volume of ``size`` bytes.

        :return: a Deferred with the volume's path.
        """
        try:
            path = self._reserve(name, size)
        except StorageError as error:
            return fail(error)
        command = ["create", "-q", "-f", "qcow2", path, str(size)]
        return self._make(name, path, command)

    def create_from_image(self, name, image, size):
        """
        Create a volume as a qcow2 overlay of ``image``, grown to ``size``
        bytes. The image is only read, so it must not change afterwards.

        :param image: absolute path of a qcow2 or raw image.
        :return: a Deferred with the volume's path.
        """
        if not os.path.isabs(image):
            return fail(
                InvalidVolume(
                    f"invalid image path {image!r}: must be absolute", image
                )
            )
        reading = self._image_info(image)
        reading.addCallback(self._create_overlay, name, image, size)
        return reading

    def resize(self, name, size):
        """
        Grow a volume to ``size`` bytes. Shrinking is rejected because it
        would cut off the guest's data.
        """
        reading = self.info(name)
        reading.addCallback(self._grow, name, size)
        return reading

    def delete(self, name):
        """Delete a volume; fails with :exc:`VolumeNotFound` if missing."""
        try:
            path = self.path(name)
            os.unlink(path)
        except FileNotFoundError:
            return fail(VolumeNotFound(f"volume {path} not found", path))
        except OSError as error:
            return fail(_os_error("delete volume", path, error))
        except StorageError as error:
            return fail(error)
        self.log.info("deleted volume {path}", path=path)
        return succeed(None)

    def info(self, name):
        """:return: a Deferred with the volume's :class:`VolumeInfo`."""
        try:
            path = self.path(name)
        except StorageError as error:
            return fail(error)
        if not os.path.exists(path):
            return fail(VolumeNotFound(f"volume {path} not found", path))
        return self._image_info(path)

    def names(self):
        """
        List the volume names in the directory, sorted, for comparing
        with the Cell's journal after a restart.
        """
        names = []
        for entry in os.listdir(self.directory):
            name = entry.removesuffix(_SUFFIX)
            if entry.endswith(_SUFFIX) and _NAME.match(name):
                names.append(name)
        return sorted(names)

    def capacity(self):
        """
        Read the size of the directory's file system.

        :return: ``(total, free)`` in bytes, where ``free`` is what an
            unprivileged writer may still use.
        """
        stats = os.statvfs(self.directory)
        return stats.f_blocks * stats.f_frsize, stats.f_bavail * stats.f_frsize

    def exists(self, name):
        """Return whether volume ``name`` exists."""
        return os.path.exists(self.path(name))

    def _reserve(self, name, size):
        """
        Check the size and directory, then create the empty file so that a
        second create of the same name fails.
        """
        path = self.path(name)
        _check_size(size, path)
        self._check_directory()
        try:
            os.close(
                os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            )
        except FileExistsError:
            raise VolumeExists(f"volume {path} exists already", path) from None
        except OSError as error:
            raise _os_error("create volume", path, error) from None
        return path

    def _check_directory(self):
        directory = self.directory
        if not os.path.isdir(directory):
            raise StorageUnwritable(
                f"volume directory {directory} does not exist or is not a "
                "directory: create it or configure another one",
                directory,
            )
        if not os.access(directory, os.W_OK) or _read_only(directory):
            raise StorageUnwritable(
                f"volume directory {directory} is not writable: fix its "
                "permissions or mount, or configure another one",
                directory,
            )

    def _create_overlay(self, image_info, name, image, size):
        if isinstance(size, int) and size < image_info.virtual_size:
            raise InvalidVolume(
                f"invalid size {size} for volume {name!r}: smaller than "
                f"image {image} ({image_info.virtual_size} bytes); ask "
                f"for a disk of at least {image_info.virtual_size} bytes",
                image,
            )
        path = self._reserve(name, size)
        command = ["create", "-q", "-f", "qcow2", "-b", image, "-F"]
        command += [image_info.format, path, str(size)]
        return self._make(name, path, command)

    def _make(self, name, path, command):
        running = self._run(command, path)

        def created(_):
            self.log.info("created volume {path}", path=path)
            return path

        def remove_partial(failure):
            _remove_quietly(path)
            return failure

        return running.addCallbacks(created, remove_partial)

    def _grow(self, volume, name, size):
        _check_size(size, volume.path)
        if size < volume.virtual_size:
            raise InvalidVolume(
                f"invalid size {size} for volume {volume.path}: smaller than "
                f"its current {volume.virtual_size} bytes, and shrinking "
                "would lose data",
                volume.path,
            )
        command = ["resize", "-q", "-f", "qcow2", volume.path, str(size)]
        return self._run(command, volume.path)

    def _image_info(self, path):
        # -U reads the image even while a running QEMU holds its lock.
        command = ["info", "-U", "--output=json", path]
        return self._run(command, path).addCallback(_volume_info, path)

    def _run(self, arguments, path):
        environment = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"}
        running = getProcessOutputAndValue(
            self._qemu_img,
            arguments,
            env=environment,
            reactor=self._reactor,
        )
        return running.addCallback(_check_exit, arguments[0], path)


def _check_size(size, path):
    if not isinstance(size, int) or size < MIN_SIZE:
        raise InvalidVolume(
            f"invalid size {size!r} for volume {path}: must be a whole "
            f"number of bytes, at least 1 MiB ({MIN_SIZE})",
            path,
        )


def _read_only(directory):
    return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)


def _check_exit(result, action, path):
    output, errors, code = result
    if code == 0:
        return output
    message = errors.decode("utf-8", "replace").strip()
    message = message.removeprefix("qemu-img: ")
    text = f"qemu-img {action} failed for {path}: {message}"
    if any(reason in message for reason in _FULL):
        raise StorageFull(text, path)
    if any(reason in message for reason in _UNWRITABLE):
        raise StorageUnwritable(text, path)
    if "Could not open" in message and "No such file" in message:
        raise VolumeNotFound(text, path)
    raise StorageError(text, path)


def _volume_info(output, path):
    info = json.loads(output)
    return VolumeInfo(
        path=path,
        virtual_size=info["virtual-size"],
        actual_size=info.get("actual-size", 0),
        backing_file=info.get("backing-filename"),
        format=info["format"],
    )


def _os_error(action, path, error):
    text = f"{action} {path} failed: {error.strerror}"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull(text, path)
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT):
        return StorageUnwritable(text, path)
    return StorageError(text, path)


def _remove_quietly(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
