"""
The journal's line format, and segment file names.

Each event is one line of JSON::

    {"seq":42,"event":{...record...},"crc":"1a2b3c4d"}

The CRC-32 (``zlib.crc32``, eight lowercase hex digits) covers exactly the
bytes before ``,"crc"``, so a reader checks a line without serialising it
again. The trailer has a fixed length, which keeps that check cheap.
"""

import re
import zlib
from pathlib import Path

import orjson

_HEAD = b'{"seq":'
_TRAILER_START = b',"crc":"'
_TRAILER_END = b'"}'
# ,"crc":" + 8 hex digits + "}
_TRAILER_LENGTH = len(_TRAILER_START) + 8 + len(_TRAILER_END)

_SEGMENT_NAME = re.compile(r"journal-(\d{20})\.jsonl")


class LineDamage(Exception):
    """
    A journal line that cannot be trusted.

    :ivar message: what is wrong, for an error or a report.
    :ivar torn: whether the damage looks like an interrupted write (no
        newline, or bytes that are not JSON) rather than a changed line.
    """

    def __init__(self, message: str, torn: bool):
        super().__init__(message)
        self.message = message
        self.torn = torn


def encode_line(seq: int, record: dict) -> bytes:
    """Return the journal line, with its newline, for one event record."""
    body = b'{"seq":%d,"event":%b' % (seq, orjson.dumps(record))
    return body + b',"crc":"%08x"}\n' % zlib.crc32(body)


def check_line(line: bytes) -> int:
    """
    Verify one line's checksum and return its sequence number.

    :param line: the line without its newline.
    :raises LineDamage: the checksum or the structure is wrong.
    """
    # The intact case is inlined: start-up checks every line of a segment.
    if (
        line[-_TRAILER_LENGTH : -_TRAILER_LENGTH + 8] == _TRAILER_START
        and line[-10:-2] == b"%08x" % zlib.crc32(line[:-_TRAILER_LENGTH])
        and line[-2:] == _TRAILER_END
        and line[:7] == _HEAD
    ):
        try:
            return int(line[7 : line.index(b",", 7)])
        except ValueError:
            message = "sequence number is not an integer"
            raise LineDamage(message, False) from None
    raise _damage(line)


def _damage(line: bytes) -> LineDamage:
    """Describe what is wrong with a line that failed the fast check."""
    body = line[:-_TRAILER_LENGTH]
    trailer_ok = (
        line[-_TRAILER_LENGTH : -_TRAILER_LENGTH + 8] == _TRAILER_START
        and line[-2:] == _TRAILER_END
    )
    if not trailer_ok or not body.startswith(_HEAD):
        return _classify(line, "line does not have the journal's layout")
    stored = line[-10:-2].decode(errors="replace")
    computed = f"{zlib.crc32(body):08x}"
    return _classify(
        line,
        f"checksum mismatch: the line stores {stored}, its content "
        f"gives {computed}",
    )


def parse_record(line: bytes) -> dict:
    """
    Return the event record of a line that :func:`check_line` accepted.

    :raises LineDamage: the line is not valid JSON or has no record.
    """
    try:
        record = orjson.loads(line)["event"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise LineDamage("line is not a JSON journal entry", False) from None
    if not isinstance(record, dict):
        raise LineDamage("event record is not a JSON object", False)
    return record


def _classify(line: bytes, message: str) -> LineDamage:
    """
    Tell a line that parses as JSON (changed: corruption) from one that
    does not (an interrupted write, if nothing intact follows it).
    """
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return LineDamage("incomplete or garbled line (not valid JSON)", True)
    return LineDamage(message, False)


def segment_name(first_seq: int) -> str:
    """Return the file name of the segment that starts at ``first_seq``."""
    return f"journal-{first_seq:020d}.jsonl"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """
    Return the segments in ``directory`` as ``(first seq, path)``, oldest
    first; other files (snapshots, side files, the lock) are ignored.
    """
    found = []
    for path in directory.iterdir():
        match = _SEGMENT_NAME.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)
