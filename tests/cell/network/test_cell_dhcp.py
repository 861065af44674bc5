"""
CellDhcp: the Cell's DHCP bindings follow its journalled instances.
"""

import ipaddress

import attrs
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from nano.cell.network import CellDhcp, DhcpError, dhcp_hostname
from nano.cell.network._cell import SYNC_TIMEOUT, wanted_bindings

NETWORK = {
    "address": "10.213.7.10",
    "prefix": 24,
    "gateway": "10.213.7.1",
    "dns": ["10.213.7.1"],
    "provider": "dhcp",
}


@attrs.frozen
class FakeInstance:
    """The fields of a journalled instance that CellDhcp reads."""

    id: str
    name: str = "group.web-1"
    mac: str | None = "52:54:00:00:00:01"
    state: str = "running"
    network: dict | None = None


def instance(number, **network):
    """Build an instance on 10.213.7.<10 + number>, or as ``network`` sets."""
    values = {**NETWORK, "address": f"10.213.7.{10 + number}", **network}
    return FakeInstance(
        id=f"i{number}",
        name=f"group.web-{number}",
        mac=f"52:54:00:00:00:{number:02x}",
        network=values,
    )


class FakeServer:
    """A DhcpServer that records the calls CellDhcp makes."""

    def __init__(self, reactor, bridge, directory, networks, fail=None):
        self.bridge = bridge
        self.directory = directory
        self.networks = tuple(ipaddress.IPv4Network(n) for n in networks)
        self.fail = fail
        self.calls = []
        self.reading = None
        self.stopping = succeed(None)

    def start(self):
        if self.fail is not None:
            raise self.fail
        self.calls.append("start")
        self.reading = Deferred()
        return self.reading

    def set_bindings(self, bindings):
        self.calls.append(("bind", bindings))
        self.reading = Deferred()
        return self.reading

    def stop(self):
        self.calls.append("stop")
        return self.stopping


class HostnameTests(SynchronousTestCase):
    """dhcp_hostname turns instance names into DNS labels."""

    def test_names(self):
        """The group prefix goes and other characters become hyphens."""
        cases = {
            "group.web-1": "web-1",
            "Web_Server 2": "web-server-2",
            "a.b.c": "b-c",
            "x" * 70: "x" * 63,
            "__": None,
        }
        for name, expected in cases.items():
            self.assertEqual(dhcp_hostname(name), expected, name)


class WantedBindingsTests(SynchronousTestCase):
    """wanted_bindings picks the instances DHCP serves."""

    def test_dhcp_instances_only(self):
        """Instances without a MAC, network or dhcp provider are left out."""
        instances = [
            instance(1),
            attrs.evolve(instance(2), mac=None),
            attrs.evolve(instance(3), network=None),
            instance(4, provider="cloudinit"),
            attrs.evolve(instance(5), state="deleting"),
        ]
        networks, bindings, skipped = wanted_bindings(instances)
        self.assertEqual(networks, (ipaddress.IPv4Network("10.213.7.0/24"),))
        self.assertEqual(
            bindings,
            {
                "52:54:00:00:00:01": (
                    "10.213.7.11",
                    "web-1",
                    instances[0].network,
                )
            },
        )
        self.assertEqual(skipped, [])

    def test_none(self):
        """With no DHCP instance there is no network."""
        self.assertEqual(wanted_bindings([]), ((), {}, []))

    def test_every_network_served(self):
        """Instances in several networks, even overlapping ones, are all
        bound, each with its own network settings."""
        instances = [
            instance(1),
            instance(2, gateway="10.213.7.254"),
            instance(3, address="10.213.9.3", gateway="10.213.9.1"),
            instance(4, address="10.213.7.100", prefix=25),
        ]
        networks, bindings, skipped = wanted_bindings(instances)
        self.assertEqual(
            [str(network) for network in networks],
            ["10.213.7.0/24", "10.213.7.0/25", "10.213.9.0/24"],
        )
        self.assertEqual(len(bindings), 4)
        self.assertEqual(skipped, [])
        own = bindings["52:54:00:00:00:02"][2]
        self.assertEqual(own["gateway"], "10.213.7.254")

    def test_invalid_or_taken_skipped(self):
        """An instance with invalid settings, or the address of an
        instance before it, is skipped by id."""
        instances = [
            instance(1),
            instance(2, address="10.213.7.11"),
            instance(3, prefix="24x"),
            instance(4, address=None),
        ]
        networks, bindings, skipped = wanted_bindings(instances)
        self.assertEqual(len(networks), 1)
        self.assertEqual(list(bindings), ["52:54:00:00:00:01"])
        self.assertEqual(skipped, ["i2", "i3", "i4"])


class CellDhcpTests(SynchronousTestCase):
    """CellDhcp starts, changes, moves and stops its server."""

    def setUp(self):
        self.clock = Clock()
        self.instances = []
        self.servers = []
        self.fail = None
        self.dhcp = CellDhcp(
            self.clock, "br0", "/dhcp", lambda: self.instances, self.make
        )

    def make(self, reactor, bridge, directory, network):
        server = FakeServer(reactor, bridge, directory, network, self.fail)
        self.servers.append(server)
        return server

    def test_no_dhcp_no_server(self):
        """Without DHCP instances no dnsmasq is started."""
        self.successResultOf(self.dhcp.sync())
        self.assertEqual(self.servers, [])

    def test_start_and_bind(self):
        """The first DHCP instance binds dnsmasq, then starts it."""
        self.instances = [instance(1)]
        syncing = self.dhcp.sync()
        server = self.servers[0]
        self.assertEqual(
            [str(network) for network in server.networks], ["10.213.7.0/24"]
        )
        self.assertEqual(server.calls[1], "start")
        self.assertEqual(
            server.calls[0],
            (
                "bind",
                {
                    "52:54:00:00:00:01": (
                        "10.213.7.11",
                        "web-1",
                        self.instances[0].network,
                    )
                },
            ),
        )
        self.assertNoResult(syncing)
        server.reading.callback(None)
        self.successResultOf(syncing)

    def test_change_reuses_server(self):
        """A second instance changes the bindings of the same server."""
        self.instances = [instance(1)]
        self.dhcp.sync()
        self.instances = [instance(1), instance(2)]
        self.dhcp.sync()
        self.assertEqual(len(self.servers), 1)
        self.assertEqual(len(self.servers[0].calls[-1][1]), 2)

    def test_last_instance_stops_server(self):
        """With the last DHCP instance gone dnsmasq stops."""
        self.instances = [instance(1)]
        self.dhcp.sync()
        self.instances = []
        self.successResultOf(self.dhcp.sync())
        self.assertEqual(self.servers[0].calls[-1], "stop")
        self.assertIsNone(self.dhcp.server)

    def test_new_network_restarts_server(self):
        """An instance in another network restarts dnsmasq with the
        ranges of both networks, because dnsmasq reads ranges only from
        its command line."""
        self.instances = [instance(1)]
        self.dhcp.sync()
        self.instances = [
            instance(1),
            instance(2, address="10.213.9.5", gateway=None),
        ]
        self.dhcp.sync()
        self.assertEqual(self.servers[0].calls[-1], "stop")
        self.assertEqual(
            [str(network) for network in self.servers[1].networks],
            ["10.213.7.0/24", "10.213.9.0/24"],
        )
        bindings = self.servers[1].calls[0][1]
        self.assertIsNone(bindings["52:54:00:00:00:02"][2]["gateway"])

    def test_new_gateway_same_server(self):
        """A new instance with another gateway in the same network only
        changes the bindings."""
        self.instances = [instance(1)]
        self.dhcp.sync()
        self.instances = [instance(1), instance(2, gateway="10.213.7.254")]
        self.dhcp.sync()
        self.assertEqual(len(self.servers), 1)
        bindings = self.servers[0].calls[-1][1]
        self.assertEqual(
            bindings["52:54:00:00:00:02"][2]["gateway"], "10.213.7.254"
        )

    def test_start_waits_for_stop(self):
        """A new dnsmasq starts only once the last one has exited."""
        self.instances = [instance(1)]
        self.dhcp.sync()
        self.servers[0].stopping = Deferred()
        self.instances = []
        stopped = self.dhcp.sync()
        self.instances = [instance(2)]
        syncing = self.dhcp.sync()
        self.assertEqual(len(self.servers), 1)
        self.assertNoResult(stopped)

        self.servers[0].stopping.callback(None)
        self.successResultOf(stopped)
        self.assertEqual(len(self.servers), 2)
        self.assertEqual(self.servers[1].calls[1], "start")
        self.servers[1].reading.callback(None)
        self.successResultOf(syncing)

    def test_start_failure(self):
        """A bridge that cannot serve fails the sync; the next retries."""
        self.instances = [instance(1)]
        self.fail = DhcpError("bridge br0 not found")
        failure = self.failureResultOf(self.dhcp.sync(), DhcpError)
        self.assertEqual(failure.getErrorMessage(), "bridge br0 not found")
        self.assertIsNone(self.dhcp.server)
        self.fail = None
        self.dhcp.sync()
        self.assertEqual(self.servers[1].calls[1], "start")

    def test_timeout(self):
        """A dnsmasq that never reads the bindings fails the sync in time."""
        self.instances = [instance(1)]
        syncing = self.dhcp.sync()
        self.clock.advance(SYNC_TIMEOUT)
        failure = self.failureResultOf(syncing, DhcpError)
        self.assertIn(
            "did not read the new DHCP bindings within",
            failure.getErrorMessage(),
        )

    def test_start_service_logs_failure(self):
        """A Cell whose bridge cannot serve still starts."""
        self.instances = [instance(1)]
        self.fail = DhcpError("bridge br0 not found")
        with capturedLogs() as events:
            self.dhcp.startService()
        self.assertTrue(self.dhcp.running)
        errors = [e["error"] for e in events if "error" in e]
        self.assertEqual(errors, ["bridge br0 not found"])

    def test_stop_service(self):
        """Stopping the service stops dnsmasq."""
        self.instances = [instance(1)]
        self.dhcp.startService()
        self.successResultOf(self.dhcp.stopService())
        self.assertEqual(self.servers[0].calls[-1], "stop")
