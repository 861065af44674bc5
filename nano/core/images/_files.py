"""
Paths of image files, and the blocking work on them: hashing, syncing,
renaming into place, and removing leftovers after a crash.

Files are ``<data>/images/disk/<id>.qcow2`` and
``<data>/images/media/<id>.iso``. An upload writes
``.upload-<id>-<random>.partial`` in the same directory, so that the
final rename stays on one file system.
"""

import hashlib
import os
from pathlib import Path

from ._formats import ISO, QCOW2

#: The file format of each kind of image.
FORMATS = {"disk": QCOW2, "media": ISO}
PARTIAL_PREFIX = ".upload-"
PARTIAL_SUFFIX = ".partial"
_READ_SIZE = 1024 * 1024


def image_path(root: Path, kind: str, image_id: str) -> Path:
    """Return the path of an image's file under the images ``root``."""
    return root / kind / f"{image_id}.{FORMATS[kind]}"


def make_directories(root: Path) -> None:
    """Create the images directory and one directory per kind."""
    for kind in FORMATS:
        (root / kind).mkdir(parents=True, exist_ok=True)


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(_READ_SIZE):
            digest.update(block)
    return digest.hexdigest()


def sync_file(path: Path) -> None:
    """Flush a file's data to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(descriptor)
    finally:
        os.close(descriptor)


def remove(path: Path) -> None:
    """Remove a file if it exists."""
    path.unlink(missing_ok=True)


def leftovers(root: Path, images) -> list[Path]:
    """
    Return the files under ``root`` that no recorded image owns: the
    partial files of interrupted uploads, and the files of uploads or
    deletions that a crash cut short between the file and the journal.

    :param images: the recorded images by id
        (:class:`~nano.projections.images.Image`).
    """
    found = []
    for kind in FORMATS:
        directory = root / kind
        for path in directory.iterdir():
            if not _owned(path, kind, images):
                found.append(path)
    return sorted(found)


def _owned(path: Path, kind: str, images) -> bool:
    image_id, dot, extension = path.name.partition(".")
    image = images.get(image_id)
    return (
        bool(dot)
        and extension == FORMATS[kind]
        and image is not None
        and image.kind == kind
        and image.file is not None
    )


def free_space(directory: Path) -> int:
    """Return the bytes that an unprivileged process may write there."""
    stat = os.statvfs(directory)
    return stat.f_bavail * stat.f_frsize
