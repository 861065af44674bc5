"""Durable file operations shared by the journal, recovery and snapshots."""

import contextlib
import errno
import fcntl
import os
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path

from nano.durable import fsync_directory

from ._errors import JournalLockedError

LOCK_NAME = "journal.lock"


class SpecialFileError(OSError):
    """
    A path that should be a regular file is a FIFO, a socket or a device.

    :ivar filename: the path.
    :ivar strerror: what the path is, and what to do.
    """

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def make_directories(directory: Path) -> None:
    """
    Create ``directory`` and its missing parents, syncing each new one
    into its parent, so that files synced in it later survive a power cut.
    """
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for created in reversed(missing):
        # Another process may have created it meanwhile.
        with contextlib.suppress(FileExistsError):
            created.mkdir()
        fsync_directory(created.parent)


def read_regular_file(path: Path) -> bytes:
    """
    Return the contents of ``path``, without blocking on a FIFO.

    :raises IsADirectoryError: the path is a directory.
    :raises SpecialFileError: the path is another kind of special file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(
                errno.EISDIR, os.strerror(errno.EISDIR), str(path)
            )
        if not stat.S_ISREG(mode):
            raise SpecialFileError(
                None,
                f"is {_file_kind(mode)}, not a regular file; move it out "
                "of the journal directory",
                str(path),
            )
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb") as file:
        return file.read()


def _file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
    }
    for test, kind in kinds.items():
        if test(mode):
            return kind
    return "a special file"


def copy_directory_durably(source: Path, target: Path) -> None:
    """
    Copy the directory ``source`` to the new path ``target``, syncing every
    copied file and directory, and ``target``'s parent last.

    Only regular files (symbolic links to them as their content) and
    directories are copied: a FIFO, socket or device contains no data to
    keep, and reading one could block.

    :raises FileExistsError: ``target`` exists.
    """
    _copy_tree(source, target)
    fsync_directory(target.parent)


def _copy_tree(source: Path, target: Path) -> None:
    target.mkdir()
    for path in sorted(source.iterdir()):
        if path.is_dir() and not path.is_symlink():
            _copy_tree(path, target / path.name)
        elif path.is_file():
            _copy_file(path, target / path.name)
    shutil.copystat(source, target)
    fsync_directory(target)


def _copy_file(source: Path, target: Path) -> None:
    with open(source, "rb") as reader, open(target, "xb") as writer:
        shutil.copyfileobj(reader, writer, 2**20)
        writer.flush()
        shutil.copystat(source, target)
        os.fsync(writer.fileno())


def write_durably(path: Path, data: bytes) -> None:
    """Create (or replace) ``path`` with ``data`` and sync it to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data``, continuing after short writes."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def truncate_durably(path: Path, size: int) -> None:
    """Cut ``path`` to ``size`` bytes and sync it."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


class JournalLock:
    """
    The journal's exclusive lock: an ``flock`` on the directory itself,
    which no file removal can break, and one on ``journal.lock`` in it,
    which older Nano versions take. The kernel drops both when the
    process dies.
    """

    def __init__(self, directory: Path):
        self._fds = []
        try:
            self._fds.append(_flock(directory, directory, os.O_DIRECTORY))
            self._fds.append(_flock(directory / LOCK_NAME, directory))
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Release the lock (closing its file descriptors)."""
        while self._fds:
            os.close(self._fds.pop())


def _flock(path: Path, directory: Path, flags: int = os.O_CREAT) -> int:
    """
    Open ``path`` and take an exclusive ``flock`` on it.

    NOTE: Linux NFS clients emulate ``flock`` with POSIX locks, which
    need a writable descriptor, so a journal on NFS fails to lock.

    :raises JournalLockedError: another open journal holds the lock.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | flags, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalLockedError(directory) from None
    except OSError as error:
        os.close(fd)
        raise OSError(
            error.errno,
            f"failed to lock the journal ({error.strerror}): keep journals "
            "on a local file system",
            str(path),
        ) from error
    return fd


def utc_stamp() -> str:
    """Return the UTC time for file names: ``20261204T161200.123456Z``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
