"""
The Cell's handlers keep DHCP in line with the journal: a create with a
``dhcp`` network is served before its guest starts, a failed create and
a delete drop the binding, and a restarted Cell serves the journalled
bindings again.
"""

import ipaddress

from twisted.internet.defer import succeed
from twisted.trial.unittest import SynchronousTestCase

from nano.cell.network import CellDhcp, DhcpError
from nano.events import EventDecodeError
from nano.events.cell import CELL_EVENTS
from nano.fabric import RemoteError
from nano.messages import CreateInstanceRequest, DeleteInstanceRequest

from ..cell_helpers import GIB, MIB, CellHarness, new_id

MAC = "52:54:00:12:34:56"
NETWORK = {
    "address": "10.213.7.10",
    "prefix": 24,
    "gateway": "10.213.7.1",
    "dns": ["10.213.7.1"],
    "provider": "dhcp",
}


class FakeServer:
    """A DhcpServer that records its bindings and confirms at once."""

    def __init__(self, reactor, bridge, directory, networks, fail=None):
        self.networks = tuple(ipaddress.IPv4Network(n) for n in networks)
        self.fail = fail
        self.bindings = None
        self.running = False

    def start(self):
        if self.fail is not None:
            raise self.fail
        self.running = True
        return succeed(None)

    def set_bindings(self, bindings):
        self.bindings = bindings
        return succeed(None)

    def stop(self):
        self.running = False
        return succeed(None)


def create_request(instance_id, **fields):
    """Return a CreateInstanceRequest with a dhcp network."""
    values = {
        "task_id": "task-1",
        "instance_id": instance_id,
        "name": "group.web-1",
        "cores": 1,
        "memory": 256 * MIB,
        "disks": [10 * GIB],
        "mac": MAC,
        "network": NETWORK,
    }
    values.update(fields)
    return CreateInstanceRequest(**values)


class CellDhcpHandlerTests(SynchronousTestCase):
    """A Cell on fakes whose DHCP server is a FakeServer."""

    def setUp(self):
        self.directory = self.mktemp()
        self.servers = []
        self.fail = None
        self.cell = self.start_cell()
        self.addCleanup(lambda: self.cell.stop())

    def start_cell(self, libvirt=None):
        cell = CellHarness(self.directory, libvirt=libvirt, start=False)
        dhcp = CellDhcp(
            cell.clock,
            "nanobr0",
            "/unused",
            cell.book.instances,
            self.make_server,
        )
        cell.parts.handlers.dhcp = dhcp
        dhcp.startService()
        cell.start()
        self.dhcp = dhcp
        return cell

    def make_server(self, reactor, bridge, directory, network):
        server = FakeServer(reactor, bridge, directory, network, self.fail)
        self.servers.append(server)
        return server

    def create(self, **fields):
        instance_id = new_id()
        replied = self.cell.request(create_request(instance_id, **fields))
        return instance_id, replied

    def test_create_binds(self):
        """A create with a dhcp network journals and serves its binding."""
        instance_id, replied = self.create()
        self.successResultOf(replied)
        server = self.servers[-1]
        self.assertTrue(server.running)
        self.assertEqual(
            server.bindings, {MAC: ("10.213.7.10", "web-1", NETWORK)}
        )
        network = self.cell.book.get(instance_id).network
        self.assertEqual(network["address"], "10.213.7.10")

    def test_create_without_network(self):
        """A create without a network starts no DHCP server."""
        self.successResultOf(self.create(network=None)[1])
        self.assertEqual(self.servers, [])

    def test_cloudinit_provider(self):
        """The cloudinit provider gets its address from the seed, not DHCP."""
        network = dict(NETWORK, provider="cloudinit")
        self.successResultOf(self.create(network=network)[1])
        self.assertEqual(self.servers, [])

    def test_delete_unbinds(self):
        """Deleting the last DHCP instance stops dnsmasq."""
        instance_id, replied = self.create()
        self.successResultOf(replied)
        deleted = self.cell.request(
            DeleteInstanceRequest(task_id="task-2", instance_id=instance_id)
        )
        self.successResultOf(deleted)
        self.assertFalse(self.servers[-1].running)
        self.assertIsNone(self.dhcp.server)

    def test_bridge_cannot_serve(self):
        """A bridge that cannot serve fails the create and rolls it back."""
        self.fail = DhcpError("bridge nanobr0 not found")
        instance_id, replied = self.create()
        failure = self.failureResultOf(replied, RemoteError)
        self.assertIn("bridge nanobr0 not found", str(failure.value))
        self.assertIsNone(self.cell.book.get(instance_id))
        self.assertEqual(self.cell.domain_names(), [])

    def test_restart_serves_journal(self):
        """A restarted Cell serves the bindings from its journal."""
        self.successResultOf(self.create()[1])
        self.successResultOf(self.cell.stop())
        self.dhcp.stopService()

        self.cell = self.start_cell(self.cell.libvirt)
        server = self.servers[-1]
        self.assertEqual(len(self.servers), 2)
        self.assertTrue(server.running)
        self.assertEqual(
            server.bindings, {MAC: ("10.213.7.10", "web-1", NETWORK)}
        )


class CreatingEventTests(SynchronousTestCase):
    """InstanceCreating carries the network, and old records still load."""

    RECORD = {
        "type": "InstanceCreating",
        "version": 1,
        "time": "2026-12-04T18:00:00Z",
        "aggregate_id": "i1",
        "task_id": "t1",
        "data": {
            "name": "web",
            "cores": 1,
            "memory": 256 * MIB,
            "disks": [GIB],
            "disk_bus": "virtio",
            "nic_model": "virtio",
            "display": "vga",
            "control": "vnc",
            "usb": "none",
            "tablet": "usb",
            "mac": MAC,
            "image": None,
        },
    }

    def test_record_without_network(self):
        """A record written before the field existed has no network."""
        event = CELL_EVENTS.decode(self.RECORD)
        self.assertIsNone(event.network)

    def test_network_round_trip(self):
        """The network survives encoding, as plain JSON values."""
        record = dict(
            self.RECORD, data={**self.RECORD["data"], "network": NETWORK}
        )
        event = CELL_EVENTS.decode(record)
        self.assertEqual(event.network["dns"][0], "10.213.7.1")
        self.assertEqual(CELL_EVENTS.encode(event)["data"]["network"], NETWORK)

    def test_network_not_object(self):
        """A network that is not an object is rejected with the field."""
        record = dict(self.RECORD, data={**self.RECORD["data"], "network": 5})
        error = self.assertRaises(EventDecodeError, CELL_EVENTS.decode, record)
        self.assertIn("invalid network 5", str(error))
