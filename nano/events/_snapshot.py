"""
Snapshots: a projection's state at a journal position, written atomically.

A snapshot is one file, ``snapshot-<name>-<seq, 20 digits>.json``, beside
the journal's segments::

    {"name":"core","seq":42,"state":...,"crc":"1a2b3c4d"}

The CRC-32 covers the bytes before ``,"crc"``, as in journal lines. The
two newest snapshots of each name are kept, so that a damaged newest one
still leaves one to start from.
"""

import contextlib
import os
import re
import zlib
from pathlib import Path

import attrs
import orjson
from twisted.logger import Logger

from ._files import fsync_directory, read_regular_file, write_durably

KEEP = 2
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_TRAILER_LENGTH = len(b',"crc":"12345678"}\n')

log = Logger()


@attrs.frozen
class Snapshot:
    """A projection's state as of journal position ``seq``."""

    name: str
    seq: int
    state: object
    path: Path


def write_snapshot(directory, name: str, seq: int, state) -> Path:
    """
    Write a snapshot atomically (temporary file, fsync, rename, fsync of
    the directory), then remove all but the two newest of that name.

    :param state: a JSON value (dicts with str keys, lists, str, numbers,
        bool, None).
    :raises ValueError: the name, position or state is invalid.
    :raises OSError: writing failed; the error names the snapshot's path,
        and the temporary file is removed.
    """
    directory = Path(directory)
    _check_name(name)
    if not isinstance(seq, int) or seq < 0:
        raise ValueError(f"invalid snapshot seq {seq!r}: must be an int >= 0")
    body = _encode(name, seq, state)
    path = directory / _file_name(name, seq)
    _write_atomically(path, body)
    _remove_old(directory, name)
    return path


def _write_atomically(path: Path, body: bytes) -> None:
    """
    Write ``path`` through a temporary file renamed over it.

    :raises OSError: naming ``path``, not the temporary file, which is
        removed.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        write_durably(temporary, body)
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise OSError(error.errno, error.strerror, str(path)) from error
    fsync_directory(path.parent)


def read_snapshot(directory, name: str) -> Snapshot | None:
    """
    Return the newest intact snapshot of ``name``, or ``None``.

    A damaged snapshot is skipped with a warning, and the next older one
    is tried.
    """
    _check_name(name)
    for seq, path in reversed(_snapshots(Path(directory), name)):
        try:
            state = _decode(read_regular_file(path), name, seq)
        except (OSError, ValueError) as error:
            log.warn(
                "Skipped damaged snapshot {path}: {error}",
                path=str(path),
                error=str(error),
            )
            continue
        return Snapshot(name, seq, state, path)
    return None


def _encode(name: str, seq: int, state) -> bytes:
    try:
        state_json = orjson.dumps(state)
    except TypeError as error:
        raise ValueError(
            f"invalid state for snapshot {name!r}: {error}; snapshots hold "
            "JSON values only"
        ) from None
    body = b'{"name":%b,"seq":%d,"state":%b' % (
        orjson.dumps(name),
        seq,
        state_json,
    )
    return body + b',"crc":"%08x"}\n' % zlib.crc32(body)


def _decode(data: bytes, name: str, seq: int):
    """:raises ValueError: the file is damaged or is not this snapshot."""
    body = data[:-_TRAILER_LENGTH]
    stored = data[-11:-3]
    if stored != b"%08x" % zlib.crc32(body):
        raise ValueError("checksum mismatch or incomplete file")
    content = orjson.loads(data)
    if content.get("name") != name or content.get("seq") != seq:
        raise ValueError(
            f"content is snapshot {content.get('name')!r} at seq "
            f"{content.get('seq')!r}, not what its file name says"
        )
    return content["state"]


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"invalid snapshot name {name!r}: use letters, digits, "
            "'_', '.' and '-', not starting with '.' or '-'"
        )


def _file_name(name: str, seq: int) -> str:
    return f"snapshot-{name}-{seq:020d}.json"


def _snapshots(directory: Path, name: str) -> list[tuple[int, Path]]:
    pattern = re.compile(rf"snapshot-{re.escape(name)}-(\d{{20}})\.json")
    found = []
    for path in directory.iterdir():
        match = pattern.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def _remove_old(directory: Path, name: str) -> None:
    old = _snapshots(directory, name)[:-KEEP]
    for _, path in old:
        path.unlink()
    if old:
        fsync_directory(directory)
