"""CellFabric: which address it binds, and how it reaches Core."""

from fabric_helpers import ADDRESS_B, Recorder, make_config
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nano.fabric import CellFabric, Endpoint
from nano.fabric.testing import MemoryNetwork, run


class _Port:
    def __init__(self, port):
        self._port = port

    def getHost(self):
        return self

    @property
    def port(self):
        return self._port

    def stopListening(self):
        return None


class UDPReactor(Clock):
    """
    A clock that records ``listenUDP`` and ``listenMulticast`` calls and
    attaches UDP listeners to an in-memory network.
    """

    def __init__(self):
        super().__init__()
        self.network = MemoryNetwork(self)
        self.udp = []
        self.multicast = []

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):
        self.udp.append((port, interface))
        self.network.attach(protocol, ("10.213.0.7", 41000))
        return _Port(41000)

    def listenMulticast(self, port, protocol, interface="", **options):
        self.multicast.append((port, interface))
        return _Port(41001)


class FixedCoreTests(SynchronousTestCase):
    """A Cell given Core's address uses neither discovery nor routes."""

    def start_cell(self, **settings):
        reactor = UDPReactor()
        config = make_config(**settings)
        core = Endpoint(reactor, config, Recorder(), "Core")
        reactor.network.attach(core, ADDRESS_B)
        cell = CellFabric(reactor, config, Recorder(), "Cell_1", ADDRESS_B)
        cell.startService()
        run(reactor, 5, until=lambda: cell.connector.peer)
        return reactor, cell

    def test_binds_every_address_without_interface(self):
        """Without an ``interface`` setting, the socket takes any address."""
        reactor, cell = self.start_cell()
        self.assertEqual(reactor.udp, [(0, "")])
        self.assertIsNone(cell.interface)
        self.assertEqual(reactor.multicast, [])
        self.assertEqual(cell.connector.peer.name, "Core")

    def test_binds_configured_interface(self):
        """An ``interface`` setting still chooses the bound address."""
        reactor, cell = self.start_cell(interface="10.213.0.7")
        self.assertEqual(reactor.udp, [(0, "10.213.0.7")])
        self.assertEqual(cell.interface, "10.213.0.7")
        self.assertEqual(reactor.multicast, [])
        self.assertEqual(cell.connector.peer.name, "Core")
