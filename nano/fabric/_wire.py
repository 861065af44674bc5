"""
The datagram format: a fixed binary header, a payload and an HMAC tag.

::

    offset size field
         0    2 magic b"NF"
         2    1 version (1)
         3    1 kind (:class:`Kind`)
         4   16 sender node id
        20    8 sender connection epoch
        28    8 receiver connection epoch (0 until known)
        36    8 packet number (per connection, never reused)
        44    4 data sequence number (DATA only, else 0)
        48    4 cumulative ack: every sequence number below it arrived
        52    8 selective acks: bit i set means ack + 1 + i arrived
        60    n payload
      60+n   32 HMAC-SHA256 over bytes 0 .. 60+n with the cluster secret

All integers are big-endian and unsigned.
"""

import enum
import hmac
import struct
from typing import NamedTuple

MAGIC = b"NF"
VERSION = 1
HEADER = struct.Struct("!2sBB16sQQQIIQ")
TAG_SIZE = 32
OVERHEAD = HEADER.size + TAG_SIZE
NODE_ID_SIZE = 16


class Kind(enum.IntEnum):
    """What a datagram does."""

    HELLO = 1
    WELCOME = 2
    DATA = 3
    ACK = 4
    HEARTBEAT = 5
    CLOSE = 6
    CLOSE_ACK = 7
    RESET = 8
    PING = 9
    PONG = 10


_KINDS = frozenset(Kind)


class Header(NamedTuple):
    """The decoded fixed header of a datagram."""

    magic: bytes
    version: int
    kind: int
    node: bytes
    src_epoch: int
    dst_epoch: int
    packet: int
    seq: int
    ack: int
    sack: int


class DatagramError(ValueError):
    """
    A datagram was rejected before it reached any handler.

    :param reason: a short fixed phrase, used as the drop counter's key.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


TRUNCATED = "truncated"
OVERSIZED = "oversized"
NOT_NANO = "not a Nano fabric datagram"
BAD_VERSION = "unsupported protocol version"
FORGED = "invalid HMAC tag (wrong secret or altered)"
BAD_KIND = "unknown datagram kind"


def encode(
    secret: bytes,
    kind: Kind,
    node: bytes,
    src_epoch: int,
    dst_epoch: int,
    packet: int,
    seq: int = 0,
    ack: int = 0,
    sack: int = 0,
    payload: bytes = b"",
) -> bytes:
    """Build and sign one datagram."""
    head = HEADER.pack(
        MAGIC,
        VERSION,
        kind,
        node,
        src_epoch,
        dst_epoch,
        packet,
        seq,
        ack,
        sack,
    )
    body = head + payload
    return body + hmac.digest(secret, body, "sha256")


def decode(secret: bytes, data: bytes, max_size: int):
    """
    Check and split one received datagram.

    Only the size, magic and version are read before the tag is
    verified, so no field of a forged datagram is ever trusted.

    :return: ``(header, payload)``.
    :raises DatagramError: the datagram must be dropped.
    """
    size = len(data)
    if size < OVERHEAD:
        raise DatagramError(TRUNCATED)
    if size > max_size:
        raise DatagramError(OVERSIZED)
    if data[:2] != MAGIC:
        raise DatagramError(NOT_NANO)
    if data[2] != VERSION:
        raise DatagramError(BAD_VERSION)
    body = data[:-TAG_SIZE]
    expected = hmac.digest(secret, body, "sha256")
    if not hmac.compare_digest(expected, data[-TAG_SIZE:]):
        raise DatagramError(FORGED)
    header = Header._make(HEADER.unpack_from(data))
    if header.kind not in _KINDS:
        raise DatagramError(BAD_KIND)
    return header, body[HEADER.size :]
