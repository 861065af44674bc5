"""Write a small ISO 9660 image with pycdlib, atomically."""

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path

import pycdlib

from nano.durable import fsync_directory

from ._errors import SeedError

# The seed contains a password hash, yet it is made world-readable like
# the instance's volumes, which contain the guest's /etc/shadow anyway.
# QEMU must read it when libvirt does not relabel files for it.
_MODE = 0o644


def _short_name(name):
    # ISO 9660 level 1 names are 8.3 upper-case d-characters. Readers
    # that know Rock Ridge or Joliet, such as Linux's isofs, show the
    # long name instead.
    stem = re.sub(r"[^A-Z0-9_]", "", name.upper())[:8]
    return f"/{stem}.;1"


def _image(label, files):
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=1, joliet=3, rock_ridge="1.09", vol_ident=label)
    for name, data in files.items():
        iso.add_fp(
            io.BytesIO(data),
            len(data),
            _short_name(name),
            rr_name=name,
            joliet_path=f"/{name}",
        )
    return iso


def read_iso(path):
    """
    Return ``(volume identifier, {name: bytes})`` of the files in an ISO
    image's root directory, by their Rock Ridge names.

    :raises SeedError: the file is missing or not an ISO image.
    """
    iso = pycdlib.PyCdlib()
    try:
        iso.open(str(path))
    except (OSError, pycdlib.pycdlibexception.PyCdlibException) as error:
        raise SeedError(
            f"failed to read seed ISO {path}: {error}", str(path)
        ) from error
    try:
        label = iso.pvd.volume_identifier.decode("ascii").rstrip()
        return label, _root_files(iso)
    finally:
        iso.close()


def _root_files(iso):
    files = {}
    for record in iso.list_children(rr_path="/"):
        if record.is_dot() or record.is_dotdot() or record.is_dir():
            continue
        name = record.rock_ridge.name().decode("utf-8")
        stream = io.BytesIO()
        iso.get_file_from_iso_fp(stream, rr_path=f"/{name}")
        files[name] = stream.getvalue()
    return files


def write_iso(path, label, files):
    """
    Write an ISO image with volume identifier ``label`` and ``files``
    in its root directory, with Rock Ridge and Joliet names. It is
    written to a temporary file beside ``path``, flushed to disk, then
    renamed over ``path``, so ``path`` is always a whole image.

    :param files: ``{name: bytes}``.
    :raises SeedError: the file could not be written; nothing is left.
    """
    path = Path(path)
    iso = _image(label, files)
    try:
        _write_replacing(path, iso)
    finally:
        iso.close()


def _write_replacing(path, iso):
    try:
        descriptor, partial = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".partial", dir=path.parent
        )
    except OSError as error:
        raise _failed(path, error) from error
    try:
        with open(descriptor, "wb") as stream:
            os.fchmod(stream.fileno(), _MODE)
            iso.write_fp(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, path)
        fsync_directory(path.parent)
    except OSError as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise _failed(path, error) from error


def _failed(path, error):
    return SeedError(
        f"failed to write seed ISO {path}: {error.strerror}: check that"
        " the directory exists, is writable and has free space",
        str(path),
    )
