"""Durable writes of small files: the CA certificate and key."""

import os
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """
    Write ``data`` to ``path`` so that readers see the old or the new
    file, never a partial one.

    The temporary file is created with ``mode``, so a private key is
    never readable by others, then fsynced, renamed over ``path``, and
    the directory is fsynced so that the rename survives a power cut.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    descriptor = os.open(temporary, flags, mode)
    try:
        os.fchmod(descriptor, mode)
        _write_all(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    fsync_directory(path.parent)


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def fsync_directory(directory: Path) -> None:
    """Sync ``directory``, so that renames and removals in it persist."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
