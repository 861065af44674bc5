"""
Defects found by feeding the fabric unusual settings and messages.

Each test shows one defect and is marked ``xfail(strict=True)``, so the
suite stays green until the defect is fixed, and then the mark must go.
The tests run on a ``task.Clock`` with the in-memory network.
"""

import shutil
import subprocess
import sys

import pytest
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from zope.interface import implementer

from nano.config import ConfigError
from nano.fabric import (
    DiscoveryClient,
    DiscoveryResponder,
    Endpoint,
    FabricConfig,
    IPeerObserver,
    MessageRegistry,
    RemoteError,
    Session,
)
from nano.fabric.testing import MemoryNetwork, run

SECRET = bytes(range(32))
CORE = ("10.213.0.1", 40000)
NODE = ("10.213.0.7", 41000)

registry = MessageRegistry()


@registry.message("RenameRequest")
class RenameRequest:
    name: str


@registry.message("RenameResponse")
class RenameResponse:
    name: str


class MulticastTransport:
    """Records the datagrams a discovery protocol writes."""

    def __init__(self):
        self.written = []

    def write(self, data, address):
        self.written.append((data, address))

    def setTTL(self, ttl):
        pass

    def setOutgoingInterface(self, address):
        pass

    def joinGroup(self, group, interface):
        return succeed(None)


@implementer(IPeerObserver)
class Ignore:
    """A peer observer that ignores every event."""

    def peer_connected(self, peer):
        pass

    def peer_lost(self, peer):
        pass

    def peer_recovered(self, peer):
        pass

    def peer_disconnected(self, peer, graceful):
        pass

    def message_received(self, peer, message):
        pass


def accepted_config(**settings):
    """Return the config ``from_dict`` builds, or None if it rejects it."""
    values = {"secret": SECRET.hex(), **settings}
    try:
        return FabricConfig.from_dict(values, "domain.cfg")
    except ConfigError as error:
        assert "domain" in str(error)
        return None


def test_long_domain_rejected_or_answered():
    """A domain that the config accepts can be discovered."""
    config = accepted_config(domain="cluster-" + "x" * 2000)
    if config is None:
        return
    clock = Clock()
    client = DiscoveryClient(clock, config, NODE[0])
    responder = DiscoveryResponder(clock, config, CORE[0], CORE)
    client_transport = MulticastTransport()
    core_transport = MulticastTransport()
    client.makeConnection(client_transport)
    responder.makeConnection(core_transport)

    client.search()
    for data, _ in client_transport.written:
        responder.datagramReceived(data, NODE)

    assert len(client_transport.written) == 1
    assert len(core_transport.written) == 1


def connected_sessions():
    """Return a clock and the node's session, its peer and Core's session."""
    clock = Clock()
    network = MemoryNetwork(clock)
    config = FabricConfig(secret=SECRET, max_datagram=1472)
    node_session = Session(clock, registry, Ignore())
    core_session = Session(clock, registry, Ignore())
    node = Endpoint(clock, config, node_session, "Cell_1")
    core = Endpoint(clock, config, core_session, "Core")
    network.attach(node, NODE)
    network.attach(core, CORE)
    connected = []
    node.connect(CORE).addCallback(connected.append)
    run(clock, 5, until=lambda: connected and core.peers)
    return clock, node_session, connected[0], core_session


def test_wrong_field_type_gets_error_reply():
    """A request whose field has the wrong JSON type is not handled."""
    clock, node_session, core, core_session = connected_sessions()
    handled = []

    def rename(peer, message):
        handled.append(message)
        return RenameResponse(name="renamed")

    core_session.handle(RenameRequest, rename)
    results = []

    # The sender's class does not check types either, so it sends this.
    request = RenameRequest(name={"first": "vm1"})
    node_session.request(core, request).addBoth(results.append)
    run(clock, 1)

    assert handled == []
    assert len(results) == 1
    assert results[0].check(RemoteError)


# Runs inside "unshare -rn": only loopback, no default route, and no
# multicast, because the Cell is given Core's address.
FIXED_CORE_CELL = """
import sys
from twisted.internet import reactor
from nano.fabric import (
    CellFabric, Endpoint, FabricConfig, MessageRegistry, Session,
)
config = FabricConfig(secret=bytes(range(32)))
core = Endpoint(reactor, config, Session(reactor, MessageRegistry()), "Core")
port = reactor.listenUDP(0, core, interface="127.0.0.1").getHost().port
session = Session(reactor, MessageRegistry())
cell = CellFabric(reactor, config, session, "Cell_1", ("127.0.0.1", port))

def check():
    print("connected" if cell.connector.peer else "not connected")
    reactor.stop()

def start():
    try:
        cell.startService()
    except Exception as error:
        print(f"{type(error).__name__}: {error}")
        reactor.stop()
        return
    reactor.callLater(2, check)

reactor.callWhenRunning(start)
reactor.run()
"""


@pytest.mark.slow
def test_fixed_core_without_default_route():
    """A Cell given Core's address connects on a host with no default route."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    probe = subprocess.run(["unshare", "-rn", "true"], check=False)
    if probe.returncode != 0:
        pytest.skip("unshare -rn is not permitted here")
    script = f'ip link set lo up && exec "{sys.executable}" -c "$0"'

    finished = subprocess.run(
        ["unshare", "-rn", "sh", "-c", script, FIXED_CORE_CELL],
        capture_output=True,
        text=True,
        timeout=20,
    )

    assert finished.stdout.strip() == "connected", finished.stdout
