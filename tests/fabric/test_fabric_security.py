"""Forged, altered, replayed and malformed datagrams never get through."""

import hmac

from fabric_helpers import ADDRESS_A, ADDRESS_B, Pair, Recorder, make_config
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from nano.fabric import Endpoint, FabricConfig, _endpoint, _wire
from nano.fabric._drops import LOG_INTERVAL, DropCounter

FORGED = _wire.FORGED
STALE = _endpoint.STALE
REPLAYED = _endpoint.REPLAYED


def sent_to(pair, address):
    """Return the recorded datagrams sent to ``address``."""
    return [data for data, _, to in pair.network.sent if to == address]


def replay(pair, datagrams, source=ADDRESS_A, target=None):
    """Feed captured datagrams to ``target`` (B by default) again."""
    target = target or pair.b
    for data in datagrams:
        target.datagramReceived(data, source)


class ForgeryTests(SynchronousTestCase):
    """Datagrams from outside the cluster or altered on the way."""

    def test_wrong_secret_cannot_connect(self):
        """A node with another secret cannot connect, and nothing reaches B."""
        pair = Pair(connect=False)
        outsider_config = FabricConfig(secret=b"other" * 8, max_datagram=1472)
        outsider = Endpoint(pair.clock, outsider_config, Recorder(), "X")
        pair.network.attach(outsider, ("10.213.0.66", 5600))
        connecting = outsider.connect(ADDRESS_B)
        pair.run(11)
        self.failureResultOf(connecting)
        self.assertEqual(pair.observer_b.events, [])
        self.assertEqual(pair.b.peers, [])
        self.assertGreaterEqual(pair.b.drops.counts[FORGED], 4)

    def test_flipped_bit_dropped_and_message_still_arrives_once(self):
        """
        An altered datagram is dropped, and its message still arrives once.
        """
        pair = Pair()
        flipped = []

        def flip(data, source, destination):
            if destination == ADDRESS_B and not flipped:
                header, _ = _wire.decode(pair.config.secret, data, 65507)
                if header.kind == _wire.Kind.DATA:
                    flipped.append(data)
                    return data[:70] + bytes([data[70] ^ 4]) + data[71:]
            return data

        pair.network.tamper = flip
        pair.peer.send(b"the real message")
        pair.run(3)
        self.assertEqual(len(flipped), 1)
        self.assertEqual(pair.b.drops.counts[FORGED], 1)
        self.assertEqual(pair.observer_b.messages, [b"the real message"])

    def test_outsider_datagram_with_own_secret_is_forged(self):
        """A datagram naming live epochs but signed with a guess is dropped."""
        pair = Pair()
        forged = _wire.encode(
            b"guess" * 8,
            _wire.Kind.DATA,
            pair.a.node_id,
            pair.peer.local_epoch,
            pair.peer.remote_epoch,
            10_000,
            seq=1,
            payload=b"\0\0\0\4evil",
        )
        replay(pair, [forged])
        self.assertEqual(pair.b.drops.counts[FORGED], 1)
        self.assertEqual(pair.observer_b.messages, [])


class ReplayTests(SynchronousTestCase):
    """Datagrams captured and sent again."""

    def test_replayed_datagrams_are_dropped(self):
        """Every datagram replayed within its connection is dropped."""
        pair = Pair()
        pair.network.record = True
        for number in range(5):
            pair.peer.send(b"command %d" % number)
        pair.run(2)
        captured = sent_to(pair, ADDRESS_B)
        replay(pair, captured)
        pair.run(2)
        self.assertEqual(len(pair.observer_b.messages), 5)
        self.assertEqual(pair.b.drops.counts[REPLAYED], len(captured))

    def test_replay_after_reconnect_is_dropped(self):
        """Datagrams of an earlier connection are dropped after a reconnect."""
        pair = Pair()
        pair.network.record = True
        pair.peer.send(b"create instance")
        pair.run(2)
        captured = sent_to(pair, ADDRESS_B)
        closed = pair.peer.close()
        pair.run(2)
        self.successResultOf(closed)
        pair.connect()
        events = list(pair.observer_b.events)
        replay(pair, captured)
        pair.run(2)
        self.assertEqual(pair.observer_b.messages, [b"create instance"])
        self.assertEqual(pair.observer_b.events, events)
        self.assertGreaterEqual(len(captured), 1)
        self.assertEqual(pair.b.drops.counts[STALE], len(captured))

    def test_replayed_hello_leaves_connection_alone(self):
        """A replayed HELLO does not disturb the live connection."""
        pair = Pair(connect=False)
        pair.network.record = True
        pair.connect()
        hello = sent_to(pair, ADDRESS_B)[0]
        replay(pair, [hello] * 3)
        pair.run(20)
        self.assertEqual(pair.observer_b.events, [("connected", "A")])
        self.assertEqual(pair.b.drops.counts[REPLAYED], 3)


class MalformedTests(SynchronousTestCase):
    """Datagrams that are cut, too big, or break a handler."""

    def test_truncated_and_oversized_dropped(self):
        """Truncated, cut and oversized datagrams are dropped and counted."""
        pair = Pair()
        pair.network.record = True
        pair.peer.send(b"x" * 1000)
        pair.run(1)
        data = sent_to(pair, ADDRESS_B)[-1]
        replay(pair, [data[:50], data[:-1], b"", b"x" * 1473])
        self.assertEqual(pair.b.drops.counts[_wire.TRUNCATED], 2)
        self.assertEqual(pair.b.drops.counts[FORGED], 1)
        self.assertEqual(pair.b.drops.counts[_wire.OVERSIZED], 1)
        self.assertEqual(pair.observer_b.messages, [b"x" * 1000])

    def test_failing_observer_does_not_escape(self):
        """
        An exception from the observer is counted and logged, never raised.
        """
        pair = Pair()

        def explode(peer, message):
            raise RuntimeError("handler bug")

        pair.observer_b.message_received = explode
        pair.peer.send(b"boom")
        pair.run(1)
        self.assertEqual(pair.b.drops.counts[_endpoint.INTERNAL], 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.booleans())
def test_garbage_never_raises_or_reaches_observer(garbage, signed):
    """
    Random bytes, and random bytes behind a valid magic, version and tag
    (as from a buggy node that has the secret), are only counted.
    """
    pair = Pair(config=make_config())
    if signed:
        body = _wire.MAGIC + bytes([_wire.VERSION]) + garbage
        garbage = body + hmac.digest(pair.config.secret, body, "sha256")
    before = sum(pair.b.drops.counts.values())
    pair.b.datagramReceived(garbage, ADDRESS_A)
    pair.run(1)
    assert pair.observer_b.messages == []
    assert pair.observer_b.events == [("connected", "A")]
    assert sum(pair.b.drops.counts.values()) == before + 1


def test_drop_logging_is_rate_limited():
    """
    Drops of one reason are logged at most once per interval, with counts.
    """
    clock = Clock()
    drops = DropCounter(clock)
    with capturedLogs() as events:
        for _ in range(50):
            drops.drop("too bad", ("10.213.0.9", 7))
        clock.advance(LOG_INTERVAL)
        drops.drop("too bad", ("10.213.0.9", 7))
    lines = [formatEvent(event) for event in events]
    assert drops.counts["too bad"] == 51
    assert lines == [
        "Dropped 1 datagram(s) (too bad), latest from 10.213.0.9:7; "
        "1 in total for this reason",
        "Dropped 50 datagram(s) (too bad), latest from 10.213.0.9:7; "
        "51 in total for this reason",
    ]


def test_secret_never_logged():
    """The secret appears in no log line."""
    pair = Pair()
    with capturedLogs() as events:
        pair.b.datagramReceived(b"x" * 200, ADDRESS_A)
        pair.peer.close()
        pair.run(5)
    text = " ".join(formatEvent(event) for event in events)
    assert events
    assert pair.config.secret.hex() not in text
    assert repr(pair.config.secret) not in text


def test_send_failure_counted_not_raised():
    """A send that the kernel rejects is counted and logged, not raised."""
    pair = Pair()

    def refuse(data, address):
        raise PermissionError(1, "Operation not permitted")

    pair.a._send = refuse
    with capturedLogs() as events:
        pair.peer.send(b"blocked")
        pair.run(1)
    failures = pair.a.send_failures.counts
    assert failures["send failed: Operation not permitted"] >= 1
    assert "latest to 10.213.0.2:5600" in formatEvent(events[0])
    assert pair.observer_b.messages == []
