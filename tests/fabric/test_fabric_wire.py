"""The datagram codec and the replay window."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nano.fabric import _wire
from nano.fabric._replay import ReplayWindow
from nano.fabric._wire import DatagramError, Kind

SECRET = b"k" * 32
NODE = bytes(range(16))


def sample(payload=b"payload"):
    """Return a signed DATA datagram with distinct header values."""
    return _wire.encode(
        SECRET, Kind.DATA, NODE, 11, 22, 33, 44, 55, 66, payload
    )


def test_round_trip():
    """Every header field and the payload survive encoding and decoding."""
    header, payload = _wire.decode(SECRET, sample(), 65507)
    assert payload == b"payload"
    assert header.kind == Kind.DATA
    assert header.node == NODE
    assert (header.src_epoch, header.dst_epoch) == (11, 22)
    assert (header.packet, header.seq, header.ack, header.sack) == (
        33,
        44,
        55,
        66,
    )


def test_layout_sizes():
    """The header is 60 bytes and the overhead 92, as documented."""
    assert _wire.HEADER.size == 60
    assert len(sample(b"")) == _wire.OVERHEAD == 92


def reason(data, secret=SECRET, max_size=65507):
    """Return the drop reason for ``data``; fail if it decodes."""
    with pytest.raises(DatagramError) as caught:
        _wire.decode(secret, data, max_size)
    return caught.value.reason


def test_wrong_secret_rejected():
    """A datagram signed with another secret is forged."""
    assert reason(sample(), secret=b"x" * 32) == _wire.FORGED


def test_truncated_rejected():
    """A datagram shorter than header and tag is truncated."""
    assert reason(sample(b"")[:-1]) == _wire.TRUNCATED


def test_cut_tag_rejected():
    """A datagram with part of its tag cut off fails the tag check."""
    assert reason(sample(b"long payload")[:-5]) == _wire.FORGED


def test_oversized_rejected():
    """A datagram above the size limit is oversized."""
    assert reason(sample(b"x" * 2000), max_size=1472) == _wire.OVERSIZED


def test_bad_magic_and_version():
    """Other protocols and other versions are named as such."""
    data = sample()
    assert reason(b"XX" + data[2:]) == _wire.NOT_NANO
    assert reason(data[:2] + b"\x02" + data[3:]) == _wire.BAD_VERSION


def test_unknown_kind_rejected_after_tag():
    """An unknown kind is rejected even with a valid tag."""
    data = _wire.encode(SECRET, 99, NODE, 1, 2, 3)
    assert reason(data) == _wire.BAD_KIND


@given(st.data())
def test_any_flipped_bit_rejected(data):
    """Flipping any single bit makes the datagram invalid."""
    datagram = bytearray(sample(b"some payload bytes"))
    bit = data.draw(st.integers(0, len(datagram) * 8 - 1))
    datagram[bit // 8] ^= 1 << (bit % 8)
    assert reason(bytes(datagram)) in {
        _wire.FORGED,
        _wire.NOT_NANO,
        _wire.BAD_VERSION,
    }


@given(st.binary(max_size=3000))
def test_garbage_rejected(garbage):
    """Random bytes never decode."""
    with pytest.raises(DatagramError):
        _wire.decode(SECRET, garbage, 1472)


def test_replay_window_accepts_each_number_once():
    """Each packet number is accepted once, in any order."""
    window = ReplayWindow(size=8)
    assert window.accept(1)
    assert not window.accept(1)
    assert window.accept(3)
    assert window.accept(2)
    assert not window.accept(2)
    assert not window.accept(3)


def test_replay_window_rejects_too_old():
    """Numbers older than the window, and zero, are rejected."""
    window = ReplayWindow(size=8)
    assert window.accept(100)
    assert window.accept(93)
    assert not window.accept(92)
    assert not window.accept(0)


@given(st.lists(st.integers(1, 300), max_size=200))
def test_replay_window_never_accepts_twice(numbers):
    """No sequence of numbers gets one accepted twice."""
    window = ReplayWindow(size=64)
    accepted = [number for number in numbers if window.accept(number)]
    assert len(accepted) == len(set(accepted))
