"""Reliable delivery: sequencing, fragmentation, loss and reordering."""

import random

import pytest
from fabric_helpers import Pair, make_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nano.fabric._reliable import ProtocolError, Receiver, Sender
from nano.fabric._rto import RetransmitTimeout


def sender(max_payload=100, window=8, max_message=10_000):
    """Return a Sender with small, test-sized limits."""
    rto = RetransmitTimeout(1.0, 0.2, 4.0)
    return Sender(max_payload, window, max_message, rto)


def test_small_messages_share_a_segment():
    """Messages queued together travel in one segment and come out whole."""
    out = sender()
    for text in (b"a", b"bb", b"ccc"):
        out.queue(text)
    segments = out.take(0.0)
    assert len(segments) == 1
    receiver = Receiver(8, 10_000)
    assert receiver.receive(*segments[0]) == [b"a", b"bb", b"ccc"]


def test_large_message_is_fragmented_and_joined():
    """
    A message larger than a segment is split, and rejoined even in reverse
    order.
    """
    out = sender(window=64)
    message = bytes(range(256)) * 10
    out.queue(message)
    segments = out.take(0.0)
    assert len(segments) == 26
    receiver = Receiver(64, 10_000)
    results = [receiver.receive(*segment) for segment in reversed(segments)]
    assert results[-1] == [message]
    assert all(result == [] for result in results[:-1])


def test_window_bounds_segments_in_flight():
    """No segment is sent beyond the window; acks open it again."""
    out = sender(window=4)
    out.queue(b"x" * 1000)
    assert [seq for seq, _ in out.take(0.0)] == [1, 2, 3, 4]
    assert out.take(0.0) == []
    out.acknowledge(3, 0, 0.1)
    assert [seq for seq, _ in out.take(0.1)] == [5, 6]


def test_receiver_drops_duplicates_and_out_of_window():
    """
    Duplicates and segments beyond the window are dropped; early ones are held.
    """
    receiver = Receiver(4, 10_000)
    assert receiver.receive(1, b"\0\0\0\1a") == [b"a"]
    assert receiver.receive(1, b"\0\0\0\1a") is None
    assert receiver.receive(6, b"") is None
    assert receiver.receive(3, b"") == []
    assert receiver.ack_fields() == (2, 0b1)


def test_oversized_message_is_a_protocol_error():
    """A length prefix above max_message breaks the connection."""
    receiver = Receiver(4, 100)
    with pytest.raises(ProtocolError, match="exceeds max_message"):
        receiver.receive(1, b"\0\0\1\0")


def test_queue_rejects_oversized_message():
    """A message above max_message cannot be queued."""
    with pytest.raises(ValueError, match="message of 10001 bytes"):
        sender().queue(b"x" * 10_001)


def test_ack_beyond_sent_is_a_protocol_error():
    """An ack for segments never sent is a protocol error."""
    out = sender()
    with pytest.raises(ProtocolError, match="ack 5"):
        out.acknowledge(5, 0, 0.0)


def test_selective_ack_triggers_fast_retransmit():
    """Holes below a selectively acked segment are resent after one RTT."""
    out = sender(window=8)
    out.queue(b"x" * 500)
    assert [seq for seq, _ in out.take(0.0)] == [1, 2, 3, 4, 5, 6]
    assert out.acknowledge(2, 0, 0.01) == []
    assert out.acknowledge(2, 0b1110, 0.02) == [2, 3]


def test_rtt_sample_from_newest_segment_only():
    """The RTT sample comes from the newest segment an ack covers."""
    out = sender(window=8)
    out.queue(b"x" * 300)
    out.take(0.0)
    out.acknowledge(4, 0, 0.05)
    assert out.rto.srtt == pytest.approx(0.05)


def test_retransmitted_segment_gives_no_sample():
    """A retransmitted segment gives no RTT sample (Karn's rule)."""
    out = sender(window=8)
    out.queue(b"x" * 50)
    out.take(0.0)
    assert out.expired(1.0) == [1]
    out.resend(1, 1.0)
    out.acknowledge(2, 0, 1.01)
    assert out.rto.srtt is None


def deliver_all(pair, messages, seconds=600):
    """Send ``messages`` from A and return what B received, in order."""
    for message in messages:
        pair.peer.send(message)
    received = pair.observer_b.messages
    pair.run(seconds, until=lambda: len(received) >= len(messages))
    return received


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32),
    loss=st.floats(0, 0.3),
    duplicate=st.floats(0, 0.3),
    reorder=st.floats(0, 0.5),
    sizes=st.lists(st.integers(0, 6000), min_size=1, max_size=60),
)
def test_lossy_link_delivers_exactly_once_in_order(
    seed, loss, duplicate, reorder, sizes
):
    """
    Over random loss, duplication and reordering, messages in both
    directions arrive once, in order.
    """
    pair = Pair(seed=seed)
    pair.network.loss = loss
    pair.network.duplicate = duplicate
    pair.network.reorder = reorder
    messages = [
        number.to_bytes(4, "big") + bytes([number % 251]) * size
        for number, size in enumerate(sizes)
    ]
    replies = [message[::-1] for message in messages[::2]]
    for reply in replies:
        pair.peer_b().send(reply)
    received = deliver_all(pair, messages)
    pair.run(600, until=lambda: len(pair.observer_a.messages) >= len(replies))
    pair.run(5)
    assert received == messages
    assert pair.observer_a.messages == replies


@settings(max_examples=10, deadline=None)
@given(
    size=st.one_of(
        st.integers(0, 4096),
        st.integers(4096, 300_000),
        st.sampled_from([1, 1471, 1472, 1473, 65536]),
    ),
    seed=st.integers(0, 1000),
)
def test_fragmentation_round_trips(size, seed):
    """Messages of any size up to 300 kB survive a lossy, reordering link."""
    message = random.Random(seed).randbytes(size)
    pair = Pair(seed=seed)
    pair.network.loss = 0.05
    pair.network.reorder = 0.2
    assert deliver_all(pair, [message]) == [message]


@pytest.mark.parametrize("size", [1024 * 1024, 16 * 1024 * 1024])
def test_large_messages_round_trip(size):
    """1 MiB and 16 MiB messages round trip over a lossy link."""
    message = random.Random(size).randbytes(size)
    pair = Pair(config=make_config(max_datagram=65507))
    pair.network.loss = 0.02
    pair.network.reorder = 0.1
    assert deliver_all(pair, [message, b"after"]) == [message, b"after"]
