"""
Durable small writes, shared by every part of Nano: a file replaced so
that readers see the old or the new contents, and the directory sync
that makes a rename or a removal survive a power cut.
"""

import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Sync ``directory``, so that renames and removals in it persist."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomic_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """
    Replace ``path`` with ``data`` so that readers see the old or the
    new file, never a partial one.

    The temporary file gets ``mode`` whatever the umask, so a secret is
    never readable by others. It is fsynced and renamed over ``path``,
    and then the directory is fsynced.
    """
    path = Path(path)
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
