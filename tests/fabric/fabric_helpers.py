"""Shared pieces of the fabric tests: a two-node network on a Clock."""

from twisted.internet.task import Clock
from zope.interface import implementer

from nano.fabric import Endpoint, FabricConfig, IPeerObserver
from nano.fabric.testing import MemoryNetwork, run

SECRET = bytes(range(32))
ADDRESS_A = ("10.213.0.1", 5600)
ADDRESS_B = ("10.213.0.2", 5600)


@implementer(IPeerObserver)
class Recorder:
    """Records every peer event and message an endpoint reports."""

    def __init__(self):
        self.events = []
        self.messages = []

    def peer_connected(self, peer):
        self.events.append(("connected", peer.name))

    def peer_lost(self, peer):
        self.events.append(("lost", peer.name))

    def peer_recovered(self, peer):
        self.events.append(("recovered", peer.name))

    def peer_disconnected(self, peer, graceful):
        self.events.append(("disconnected", peer.name, graceful))

    def message_received(self, peer, message):
        self.messages.append(message)


def make_config(**settings):
    """Return a config with the test secret and Ethernet-sized datagrams."""
    settings.setdefault("max_datagram", 1472)
    return FabricConfig(secret=SECRET, **settings)


class Pair:
    """
    Two endpoints, A and B, on one in-memory network, A connected to B.

    :ivar peer: A's :class:`Peer` for B, once connected.
    """

    def __init__(self, config=None, connect=True, **network):
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.config = config or make_config()
        self.network = MemoryNetwork(self.clock, **network)
        self.observer_a = Recorder()
        self.observer_b = Recorder()
        self.a = Endpoint(self.clock, self.config, self.observer_a, "A")
        self.b = Endpoint(self.clock, self.config, self.observer_b, "B")
        self.network.attach(self.a, ADDRESS_A)
        self.network.attach(self.b, ADDRESS_B)
        self.peer = None
        if connect:
            self.connect()

    def connect(self):
        """Connect A to B and wait until both sides see the peer."""
        results = []
        self.a.connect(ADDRESS_B).addBoth(results.append)
        self.run(30, until=lambda: results and self.b.peers)
        assert results, "connect did not finish"
        self.peer = results[0]
        return self.peer

    def run(self, seconds, until=None):
        """Advance the clock, one pending call at a time."""
        run(self.clock, seconds, until)

    def peer_b(self):
        """Return B's peer for A."""
        (peer,) = self.b.peers
        return peer
