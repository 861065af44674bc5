"""Durable file operations shared by the journal, recovery and snapshots."""

import fcntl
import os
from datetime import UTC, datetime
from pathlib import Path

from ._errors import JournalLockedError

LOCK_NAME = "journal.lock"


def fsync_directory(directory: Path) -> None:
    """
    Sync a directory, so that files created, renamed or removed in it
    survive a power cut.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def lock_directory(directory: Path) -> int:
    """
    Take the journal's exclusive lock, held until the returned file
    descriptor is closed (the kernel drops it when the process dies).

    :raises JournalLockedError: another open journal holds the lock.
    """
    path = directory / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalLockedError(directory, path) from None
    return fd


def utc_stamp() -> str:
    """Return the UTC time for file names: ``20261204T161200.123456Z``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
