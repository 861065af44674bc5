"""
Checks that an uploaded file is a usable qcow2 or ISO 9660 image.

These functions block (they read the file and run ``qemu-img``), so the
image store calls them in a thread.
"""

import json
import subprocess
from pathlib import Path

QCOW2 = "qcow2"
ISO = "iso"
QCOW2_MAGIC = b"QFI\xfb"
#: ISO 9660: 16 sectors of system area, then the primary volume
#: descriptor, whose identifier ``CD001`` starts at byte 1 of its sector.
ISO_SECTOR = 2048
ISO_MAGIC = b"CD001"
ISO_MAGIC_OFFSET = 16 * ISO_SECTOR + 1
MIN_ISO_SIZE = 17 * ISO_SECTOR
#: Fields of the ISO 9660 primary volume descriptor, stored both-endian:
#: the little-endian half of the volume space size in logical blocks,
#: and of the logical block size in bytes.
ISO_VOLUME_BLOCKS = slice(80, 84)
ISO_BLOCK_SIZE = slice(128, 130)
ISO_BLOCK_SIZES = (512, 1024, 2048)
#: Seconds ``qemu-img`` may take; ``check`` reads every metadata table.
QEMU_IMG_TIMEOUT = 600
#: ``qemu-img check`` exit statuses: no problem, and leaked clusters only.
_CHECK_CLEAN = (0, 3)


class InvalidImage(ValueError):
    """The file is not an image of the expected format, as the message
    explains."""


def inspect(path: Path, image_format: str, size: int) -> int:
    """
    Check the file at ``path`` and return its virtual size in bytes.

    :param image_format: ``qcow2`` or ``iso``.
    :param size: the file's size in bytes.
    :raises InvalidImage: naming what is wrong with the file.
    """
    if image_format == QCOW2:
        return inspect_qcow2(path, size)
    return inspect_iso(path, size)


def inspect_qcow2(path: Path, size: int) -> int:
    """
    Check a qcow2 file's magic, header and metadata tables, and return
    the disk size that its header declares.
    """
    with open(path, "rb") as file:
        magic = file.read(len(QCOW2_MAGIC))
    if magic != QCOW2_MAGIC:
        start = magic.hex() or "nothing"
        raise InvalidImage(
            f"not a qcow2 image: the file starts with {start}"
            f" instead of {QCOW2_MAGIC.hex()} (QFI\\xfb); convert it with "
            "qemu-img convert -O qcow2"
        )
    info = _qemu_img_json("info", path, size)
    _check_standalone(info)
    report = _qemu_img_json("check", path, size, statuses=(0, 2, 3))
    corruptions = report.get("corruptions", 0)
    if corruptions:
        raise InvalidImage(
            f"truncated or damaged qcow2 image: qemu-img check found "
            f"{corruptions} clusters that its header refers to beyond or "
            f"outside the {size}-byte file; upload the whole file again"
        )
    return int(info["virtual-size"])


def _check_standalone(info: dict) -> None:
    """Reject a qcow2 image that reads data from other files."""
    backing = info.get("backing-filename")
    if backing:
        raise InvalidImage(
            f"invalid qcow2 image: it has the backing file {backing!r}, "
            "which Nano does not store; flatten it first with qemu-img "
            "convert -O qcow2"
        )
    data = info.get("format-specific", {}).get("data", {})
    if data.get("data-file"):
        raise InvalidImage(
            f"invalid qcow2 image: its data is in the external file "
            f"{data['data-file']!r}; convert it with qemu-img convert "
            "-O qcow2"
        )


def _qemu_img_json(command: str, path: Path, size: int, statuses=(0,)):
    try:
        done = subprocess.run(
            ["qemu-img", command, "--output=json", "-f", QCOW2, str(path)],
            capture_output=True,
            timeout=QEMU_IMG_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise OSError(
            "qemu-img not found: install the qemu-utils package"
        ) from None
    if done.returncode not in statuses or not done.stdout.strip():
        error = done.stderr.decode(errors="replace").strip()
        raise InvalidImage(
            f"invalid qcow2 image: qemu-img {command} failed on the "
            f"{size}-byte file: {_last_line(error)}"
        )
    return json.loads(done.stdout)


def _last_line(text: str) -> str:
    lines = text.splitlines()
    return lines[-1] if lines else "no error message"


def inspect_iso(path: Path, size: int) -> int:
    """
    Check that a file is an ISO 9660 image: the ``CD001`` identifier
    of its primary volume descriptor, and whole 2048-byte sectors.
    Return its size, which is what a guest sees.
    """
    if size < MIN_ISO_SIZE:
        raise InvalidImage(
            f"not an ISO 9660 image: {size} bytes is smaller than the "
            f"{MIN_ISO_SIZE} bytes of the system area and one volume "
            "descriptor"
        )
    with open(path, "rb") as file:
        file.seek(ISO_MAGIC_OFFSET - 1)
        descriptor = file.read(ISO_SECTOR)
    magic = descriptor[1 : 1 + len(ISO_MAGIC)]
    if magic != ISO_MAGIC:
        raise InvalidImage(
            f"not an ISO 9660 image: byte {ISO_MAGIC_OFFSET} contains "
            f"{magic!r} instead of {ISO_MAGIC!r}; upload a .iso file"
        )
    if size % ISO_SECTOR:
        raise InvalidImage(
            f"truncated ISO 9660 image: {size} bytes is not a whole number "
            f"of {ISO_SECTOR}-byte sectors; upload the whole file again"
        )
    _check_volume_size(descriptor, size)
    return size


def _check_volume_size(descriptor: bytes, size: int) -> None:
    """
    Reject an ISO file shorter than the volume that its primary volume
    descriptor states, as a download cut at a sector boundary is.
    """
    blocks = int.from_bytes(descriptor[ISO_VOLUME_BLOCKS], "little")
    block_size = int.from_bytes(descriptor[ISO_BLOCK_SIZE], "little")
    if block_size not in ISO_BLOCK_SIZES:
        block_size = ISO_SECTOR
    stated = blocks * block_size
    if size < stated:
        raise InvalidImage(
            f"truncated ISO 9660 image: its primary volume descriptor "
            f"states {blocks} blocks of {block_size} bytes ({stated} "
            f"bytes), but the file has {size} bytes; upload the whole "
            "file again"
        )
