"""Discovery: PING and PONG between a node and Core, on a Clock."""

import errno

import orjson
from fabric_helpers import SECRET, make_config
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nano.fabric import (
    DiscoveryClient,
    DiscoveryError,
    DiscoveryResponder,
    _discovery,
    _wire,
)
from nano.fabric._config import MAX_DOMAIN
from nano.fabric.testing import run

CORE = ("10.213.0.1", 40000)
NODE = ("10.213.0.7", 41000)
GROUP = ("224.0.0.226", 5599)


class FakeMulticastTransport:
    """Records writes and multicast settings; may fail sends."""

    def __init__(self):
        self.written = []
        self.ttl = None
        self.interface = None
        self.joined = []
        self.error = None

    def write(self, data, address):
        if self.error is not None:
            raise self.error
        self.written.append((data, address))

    def setTTL(self, ttl):
        self.ttl = ttl

    def setOutgoingInterface(self, address):
        self.interface = address

    def joinGroup(self, group, interface):
        self.joined.append((group, interface))
        return succeed(None)


def payload(data, secret=SECRET):
    """Return the kind and JSON payload of a discovery datagram."""
    header, body = _wire.decode(secret, data, 1024)
    return _wire.Kind(header.kind), orjson.loads(body)


class Network:
    """A node's client and Core's responder, wired by hand."""

    def __init__(self, client_config=None, core_config=None):
        self.clock = Clock()
        self.client = DiscoveryClient(
            self.clock, client_config or make_config(), NODE[0]
        )
        self.responder = DiscoveryResponder(
            self.clock, core_config or make_config(), CORE[0], CORE
        )
        self.client_transport = FakeMulticastTransport()
        self.core_transport = FakeMulticastTransport()
        self.client.makeConnection(self.client_transport)
        self.responder.makeConnection(self.core_transport)

    def pings_to_core(self):
        """Deliver the node's PINGs to Core and Core's PONGs back."""
        pings, self.client_transport.written[:] = (
            list(self.client_transport.written),
            [],
        )
        for data, address in pings:
            assert address == GROUP
            self.responder.datagramReceived(data, NODE)
        pongs, self.core_transport.written[:] = (
            list(self.core_transport.written),
            [],
        )
        for data, address in pongs:
            assert address == NODE
            self.client.datagramReceived(data, CORE)
        return pings, pongs


class DiscoveryTests(SynchronousTestCase):
    """PING and PONG between a client and a responder."""

    def test_multicast_settings(self):
        """
        Both sides send with TTL 1 on the configured interface; Core joins
        there.
        """
        net = Network()
        self.assertEqual(net.client_transport.ttl, 1)
        self.assertEqual(net.client_transport.interface, NODE[0])
        self.assertEqual(net.core_transport.ttl, 1)
        self.assertEqual(net.core_transport.joined, [("224.0.0.226", CORE[0])])

    def test_search_finds_core_and_own_address(self):
        """One PING and its PONG give Core's address and the node's own."""
        net = Network()
        found = net.client.search()
        pings, _ = net.pings_to_core()
        self.assertEqual(len(pings), 1)
        kind, ping = payload(pings[0][0])
        self.assertEqual(kind, _wire.Kind.PING)
        self.assertEqual(ping["domain"], "nano")
        self.assertEqual(self.successResultOf(found), (CORE, NODE[0]))
        self.assertEqual(net.clock.getDelayedCalls(), [])

    def test_pings_repeat_every_second(self):
        """A search repeats its PING every second with the same nonce."""
        net = Network()
        net.client.search()
        run(net.clock, 2.5)
        nonces = {
            payload(data)[1]["nonce"]
            for data, _ in net.client_transport.written
        }
        self.assertEqual(len(net.client_transport.written), 3)
        self.assertEqual(len(nonces), 1)

    def test_other_domain_ignored(self):
        """Core ignores and counts PINGs of another domain."""
        net = Network(client_config=make_config(domain="lab"))
        found = net.client.search()
        _, pongs = net.pings_to_core()
        self.assertEqual(pongs, [])
        self.assertEqual(
            net.responder.drops.counts[_discovery.OTHER_DOMAIN], 1
        )
        self.assertNoResult(found)

    def test_longest_domain_discovered(self):
        """A search in a domain of the longest accepted name finds Core."""
        config = make_config(domain="x" * MAX_DOMAIN)
        net = Network(client_config=config, core_config=config)
        found = net.client.search()
        net.pings_to_core()
        self.assertEqual(self.successResultOf(found), (CORE, NODE[0]))

    def test_longest_pong_fits(self):
        """
        A PONG of the longest domain, nonce and addresses stays below
        half the size that discovery accepts.
        """
        config = make_config(domain="x" * MAX_DOMAIN)
        pong = {
            "domain": config.domain,
            "nonce": 2**63 - 1,
            "core": ["255.255.255.255", 65535],
            "requestor": "255.255.255.255",
        }
        data = _discovery._encode(config, b"\0" * 16, _wire.Kind.PONG, pong)
        self.assertLess(len(data), _discovery.MAX_DISCOVERY // 2)

    def test_other_secret_ignored(self):
        """Core ignores PINGs signed with another secret."""
        other = make_config()
        other = type(other)(secret=b"z" * 32)
        net = Network(client_config=other)
        net.client.search()
        _, pongs = net.pings_to_core()
        self.assertEqual(pongs, [])
        self.assertEqual(net.responder.drops.counts[_wire.FORGED], 1)

    def test_pong_of_another_search_ignored(self):
        """A PONG with a stale nonce does not end the search."""
        net = Network()
        found = net.client.search()
        stale = _discovery._encode(
            make_config(),
            b"\0" * 16,
            _wire.Kind.PONG,
            {
                "domain": "nano",
                "nonce": 1,
                "core": ["10.213.0.9", 1],
                "requestor": "x",
            },
        )
        net.client.datagramReceived(stale, CORE)
        self.assertNoResult(found)

    def test_timeout_names_group_and_fix(self):
        """
        A search without reply fails after the timeout with the group and the
        fixes.
        """
        net = Network()
        found = net.client.search()
        net.clock.advance(5)
        failure = self.failureResultOf(found, DiscoveryError)
        message = str(failure.value)
        self.assertIn("no Core answered in domain 'nano'", message)
        self.assertIn("224.0.0.226:5599 via 10.213.0.7", message)
        self.assertIn("--core HOST:PORT", message)
        self.assertEqual(net.clock.getDelayedCalls(), [])

    def test_send_failure_says_why(self):
        """
        A PING that cannot be sent fails the search at once with the reason.
        """
        net = Network()
        net.client_transport.error = OSError(
            errno.ENETUNREACH, "Network is unreachable"
        )
        found = net.client.search()
        failure = self.failureResultOf(found, DiscoveryError)
        self.assertIn("Network is unreachable", str(failure.value))
        self.assertIn('set "interface"', str(failure.value))

    def test_malformed_ping_counted(self):
        """Malformed PINGs and garbage get no reply and are counted."""
        net = Network()
        bad = _wire.encode(
            SECRET, _wire.Kind.PING, b"\0" * 16, 0, 0, 0, payload=b"[]"
        )
        net.responder.datagramReceived(bad, NODE)
        net.responder.datagramReceived(b"garbage", NODE)
        self.assertEqual(net.core_transport.written, [])
        self.assertEqual(net.responder.drops.counts[_discovery.BAD_PAYLOAD], 1)
        self.assertEqual(net.responder.drops.counts[_wire.TRUNCATED], 1)
