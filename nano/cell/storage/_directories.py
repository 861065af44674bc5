"""
Directories that QEMU opens files in.

A system libvirtd runs QEMU as an unprivileged user (``libvirt-qemu`` on
Debian) and makes that user the owner of each volume file, but not of
the directories on the way, which must let others pass (the x bit).
twistd starts daemons with umask 077, so directories made with the
default mode would keep QEMU out.
"""

import contextlib
import os
import stat
from pathlib import Path

# TODO: the test suite runs QEMU as root. A libvirtd running it as
# libvirt-qemu was tried by hand only: its first define of each domain
# took 63 s here, too slow for the suite.

#: Others may pass but not list: volume names stay private.
PASSABLE = 0o711


def make_passable_directory(path) -> None:
    """
    Create ``path`` and its missing parents with mode 0711, set with
    chmod so that the umask does not apply. Existing directories keep
    their mode.
    """
    path = Path(path).absolute()
    missing = []
    for directory in [path, *path.parents]:
        if directory.exists():
            break
        missing.append(directory)
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
        os.chmod(directory, PASSABLE)


def closed_directory(path) -> Path | None:
    """
    Return the first of ``path`` and its parents that others cannot
    pass, or ``None`` when an unprivileged QEMU can reach files in it.
    """
    path = Path(path).absolute()
    for directory in [path, *path.parents]:
        if not os.stat(directory).st_mode & stat.S_IXOTH:
            return directory
    return None
