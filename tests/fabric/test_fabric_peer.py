"""The peer lifecycle on a Clock: timers, loss, close, reconnection."""

import itertools

import pytest
from fabric_helpers import ADDRESS_A, ADDRESS_B, Pair, Recorder, make_config
from twisted.trial.unittest import SynchronousTestCase

from nano.fabric import (
    ConnectTimeout,
    CoreConnector,
    Endpoint,
    PeerClosed,
    _endpoint,
    _wire,
    fixed_core,
)
from nano.fabric._wire import Kind


def cut(pair, toward=None):
    """Drop every datagram, or only those sent to ``toward``."""

    def drop(data, source, destination):
        if toward is None or destination == toward:
            return None
        return data

    pair.network.tamper = drop


def heal(pair):
    pair.network.tamper = None


def data_send_times(pair, toward):
    """Record when DATA datagrams to ``toward`` are sent, then drop them."""
    times = []

    def record(data, source, destination):
        if destination != toward:
            return data
        header, _ = _wire.decode(pair.config.secret, data, 65507)
        if header.kind == Kind.DATA:
            times.append(pair.clock.seconds())
        return None

    pair.network.tamper = record
    return times


class LivenessTests(SynchronousTestCase):
    """Heartbeats, loss and disconnection."""

    def test_lost_after_9s_and_disconnected_after_15s(self):
        """
        With the default timers, a silent peer is lost at 9 s and gone at 15 s.
        """
        pair = Pair()
        pair.run(1)
        cut(pair)
        last_heard = pair.peer._last_heard
        pair.run(last_heard + 8.99 - pair.clock.seconds())
        self.assertEqual(pair.observer_a.events, [("connected", "B")])
        pair.run(0.02)
        self.assertEqual(pair.observer_a.events[-1], ("lost", "B"))
        pair.run(last_heard + 14.99 - pair.clock.seconds())
        self.assertEqual(pair.observer_a.events[-1], ("lost", "B"))
        pair.run(0.02)
        self.assertEqual(
            pair.observer_a.events[-1], ("disconnected", "B", False)
        )
        self.assertEqual(pair.a.peers, [])

    def test_heartbeats_keep_an_idle_peer(self):
        """An idle connection stays up for minutes on heartbeats alone."""
        pair = Pair()
        pair.run(120)
        self.assertEqual(pair.observer_a.events, [("connected", "B")])
        self.assertEqual(pair.observer_b.events, [("connected", "A")])

    def test_lost_peer_heard_again_recovers(self):
        """
        A lost peer that is heard again is reported recovered and still works.
        """
        pair = Pair()
        cut(pair)
        pair.run(10)
        heal(pair)
        pair.run(4)
        self.assertEqual(
            pair.observer_a.events,
            [("connected", "B"), ("lost", "B"), ("recovered", "B")],
        )
        pair.peer.send(b"still here")
        pair.run(1)
        self.assertEqual(pair.observer_b.messages, [b"still here"])

    def test_settable_timers(self):
        """The heartbeat, loss and disconnect timers follow the config."""
        config = make_config(
            heartbeat_interval=0.1, lost_after=0.3, disconnect_after=0.5
        )
        pair = Pair(config=config)
        cut(pair)
        pair.run(0.6)
        self.assertEqual(
            pair.observer_a.events,
            [("connected", "B"), ("lost", "B"), ("disconnected", "B", False)],
        )


class RetransmissionTests(SynchronousTestCase):
    """Retransmission timing."""

    def test_initial_timeout_and_backoff_to_the_cap(self):
        """
        Without an RTT sample, retransmissions come after 1 s, then double up
        to 4 s.
        """
        pair = Pair()
        times = data_send_times(pair, ADDRESS_B)
        pair.peer.send(b"lost in the void")
        pair.run(12)
        offsets = [round(time - times[0], 3) for time in times]
        self.assertEqual(offsets, [0, 1, 3, 7, 11])

    def test_timeout_adapts_to_round_trip(self):
        """After a fast round trip, the timeout starts at the 0.2 s minimum."""
        pair = Pair()
        pair.peer.send(b"measure")
        pair.run(1)
        times = data_send_times(pair, ADDRESS_B)
        pair.peer.send(b"lost")
        pair.run(2)
        offsets = [round(time - times[0], 3) for time in times]
        self.assertEqual(offsets, [0, 0.2, 0.6, 1.4])

    def test_retransmitted_message_arrives_once(self):
        """A message sent several times is delivered once."""
        pair = Pair()
        data_send_times(pair, ADDRESS_B)
        pair.peer.send(b"once")
        pair.run(3.5)
        heal(pair)
        pair.run(5)
        self.assertEqual(pair.observer_b.messages, [b"once"])


class CloseTests(SynchronousTestCase):
    """Graceful close."""

    def test_graceful_close_after_queued_messages(self):
        """
        Close delivers every queued message first, and both sides see a
        graceful end.
        """
        pair = Pair(loss=0.2, seed=3)
        messages = [bytes([n]) * 3000 for n in range(20)]
        for message in messages:
            pair.peer.send(message)
        closed = pair.peer.close()
        pair.run(30)
        self.successResultOf(closed)
        self.assertEqual(pair.observer_b.messages, messages)
        self.assertEqual(
            pair.observer_a.events[-1], ("disconnected", "B", True)
        )
        self.assertEqual(
            pair.observer_b.events[-1], ("disconnected", "A", True)
        )
        self.assertEqual((pair.a.peers, pair.b.peers), ([], []))

    def test_close_without_answer_still_finishes(self):
        """Close finishes after its CLOSE attempts when the peer is gone."""
        pair = Pair()
        cut(pair)
        closed = pair.peer.close()
        pair.run(5)
        self.successResultOf(closed)
        self.assertEqual(
            pair.observer_a.events[-1], ("disconnected", "B", True)
        )

    def test_send_after_close_is_rejected(self):
        """Sending on a closing peer raises PeerClosed."""
        pair = Pair()
        pair.peer.close()
        with pytest.raises(PeerClosed, match="connection closed"):
            pair.peer.send(b"late")


class ConnectTests(SynchronousTestCase):
    """Handshakes, replacement and reconnection."""

    def test_connect_timeout_names_the_address(self):
        """
        A connect without WELCOME fails after 10 s, naming the address and the
        causes.
        """
        pair = Pair(connect=False)
        connecting = pair.a.connect(("10.213.9.9", 5600))
        pair.run(9.9)
        self.assertNoResult(connecting)
        pair.run(0.2)
        failure = self.failureResultOf(connecting, ConnectTimeout)
        self.assertIn("10.213.9.9:5600", str(failure.value))
        self.assertIn("secret", str(failure.value))

    def test_hello_is_retried(self):
        """Lost HELLOs are sent again until one gets through."""
        pair = Pair(connect=False)
        dropped = []

        def drop_two_hellos(data, source, destination):
            header, _ = _wire.decode(pair.config.secret, data, 65507)
            if header.kind == Kind.HELLO and len(dropped) < 2:
                dropped.append(pair.clock.seconds())
                return None
            return data

        pair.network.tamper = drop_two_hellos
        peer = pair.connect()
        self.assertEqual(peer.name, "B")
        self.assertEqual(len(dropped), 2)

    def test_new_connection_replaces_the_old(self):
        """A second connection from a node replaces its first."""
        pair = Pair()
        old = pair.peer
        new = pair.connect()
        pair.run(1)
        self.assertIsNot(old, new)
        self.assertEqual(
            pair.observer_b.events,
            [
                ("connected", "A"),
                ("disconnected", "A", False),
                ("connected", "A"),
            ],
        )
        new.send(b"on the new one")
        pair.run(1)
        self.assertEqual(pair.observer_b.messages, [b"on the new one"])

    def test_connector_reconnects_after_core_restarts(self):
        """
        The new Core sends RESET for the old connection's epochs, so the
        node reconnects after one heartbeat, not after 15 s of silence.
        """
        pair = Pair(connect=False)
        connector = CoreConnector(pair.clock, pair.a, fixed_core(ADDRESS_B))
        connector.startService()
        pair.run(1)
        self.assertEqual(connector.peer.name, "B")
        pair.network.detach(ADDRESS_B)
        core = Endpoint(pair.clock, pair.config, Recorder(), "B2")
        pair.network.attach(core, ADDRESS_B)
        restarted = pair.clock.seconds()

        pair.run(
            20, until=lambda: connector.peer and connector.peer.name == "B2"
        )
        self.assertLessEqual(
            pair.clock.seconds() - restarted,
            pair.config.heartbeat_interval + 0.1,
        )
        self.assertEqual(
            pair.observer_a.events,
            [
                ("connected", "B"),
                ("disconnected", "B", False),
                ("connected", "B2"),
            ],
        )
        self.assertEqual(core.drops.counts[_endpoint.STALE], 1)

        stopped = connector.stopService()
        pair.run(1)
        self.successResultOf(stopped)
        self.assertEqual(
            pair.observer_a.events[-1], ("disconnected", "B2", True)
        )

    def test_close_ack_lost_still_graceful(self):
        """
        When the CLOSE_ACK is lost, the RESET for the forgotten connection ends
        the close.
        """
        pair = Pair()

        closes = []

        def drop_close_ack(data, source, destination):
            header, _ = _wire.decode(pair.config.secret, data, 65507)
            if header.kind == Kind.CLOSE:
                closes.append(data)
            return None if header.kind == Kind.CLOSE_ACK else data

        pair.network.tamper = drop_close_ack
        closed = pair.peer.close()
        pair.run(5)
        self.successResultOf(closed)
        self.assertEqual(len(closes), 2)
        self.assertEqual(pair.b.drops.counts[_endpoint.STALE], 1)
        self.assertEqual(
            pair.observer_a.events[-1], ("disconnected", "B", True)
        )
        self.assertEqual(
            pair.observer_b.events[-1], ("disconnected", "A", True)
        )

    def test_reset_ignored_for_other_epochs(self):
        """A RESET naming another epoch leaves the connection alone."""
        pair = Pair()
        reset = _wire.encode(
            pair.config.secret,
            Kind.RESET,
            pair.b.node_id,
            0,
            pair.peer.local_epoch,
            0,
            payload=(pair.peer.remote_epoch + 1).to_bytes(8, "big"),
        )
        pair.a.datagramReceived(reset, ADDRESS_B)
        pair.run(1)
        self.assertEqual(pair.observer_a.events, [("connected", "B")])
        self.assertEqual(pair.a.drops.counts[_endpoint.STALE], 1)

    def test_connector_retries_until_core_answers(self):
        """The connector retries every 3 s until Core is there."""
        pair = Pair(connect=False)
        pair.network.detach(ADDRESS_B)
        connector = CoreConnector(pair.clock, pair.a, fixed_core(ADDRESS_B))
        connector.startService()
        pair.run(25)
        self.assertIsNone(connector.peer)
        core = Endpoint(pair.clock, pair.config, Recorder(), "Core")
        pair.network.attach(core, ADDRESS_B)
        pair.run(5)
        self.assertEqual(connector.peer.name, "Core")
        self.assertEqual(pair.a.peers, [connector.peer])


def test_connect_needs_an_ipv4_address():
    """connect() rejects a host name at once."""
    pair = Pair(connect=False)
    with pytest.raises(ValueError) as caught:
        pair.a.connect(("core.example", 5600))
    assert str(caught.value) == (
        "invalid host 'core.example': the fabric needs an IPv4 address"
    )


def test_endpoint_close_closes_every_peer():
    """Endpoint.close closes outgoing and incoming connections gracefully."""
    pair = Pair()
    third = Endpoint(pair.clock, pair.config, Recorder(), "C")
    pair.network.attach(third, ("10.213.0.3", 5600))
    third.connect(ADDRESS_A)
    pair.run(1)
    assert len(pair.a.peers) == 2

    closed = pair.a.close()
    pair.run(5)
    assert closed.called
    assert pair.a.peers == []
    assert pair.b.peers == []
    assert third.peers == []
    assert pair.observer_b.events[-1] == ("disconnected", "A", True)


def test_heartbeat_every_3_s_by_default():
    """Heartbeats go out every 3 s on an idle connection."""
    pair = Pair()
    sent = []

    def record(data, source, destination):
        header, _ = _wire.decode(pair.config.secret, data, 65507)
        if header.kind == Kind.HEARTBEAT and source == ADDRESS_A:
            sent.append(pair.clock.seconds())
        return data

    pair.network.tamper = record
    pair.run(10)
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(sent)]
    assert gaps == [3.0, 3.0]
