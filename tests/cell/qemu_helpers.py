"""Shared pieces of the Cell's tests on real QEMU and real processes."""

import os
import time

from twisted.internet import defer, reactor, task
from zope.interface import implementer

from nano.fabric import (
    MAX_PACKET_SIZE,
    Endpoint,
    FabricConfig,
    IPeerObserver,
    Session,
)
from nano.messages import (
    NANO_MESSAGES,
    CellStatusReport,
    ComputeCellReady,
    InstanceDeleted,
    InstanceStarted,
    InstanceStopped,
)

# Built by tools/build-test-guest; its init prints the marker on ttyS0.
GUEST_IMAGE = "/var/tmp/nano-test-guest/nano-test-guest.qcow2"
BOOT_MARKER = b"NANO-GUEST-BOOTED"
TIMEOUT = 60.0
MIB = 1024 * 1024
SECRET = bytes(range(32))


@implementer(IPeerObserver)
class RecordingCore:
    """
    Core's side of the fabric on a loopback UDP port of its own: a
    session that records what Cells send and sends them requests.
    """

    def __init__(self):
        self.config = FabricConfig(secret=SECRET, interface="127.0.0.1")
        self.session = Session(reactor, NANO_MESSAGES, self)
        self.received = []
        self.peer = None
        for message_type in (
            CellStatusReport,
            ComputeCellReady,
            InstanceStarted,
            InstanceStopped,
            InstanceDeleted,
        ):
            self.session.handle(message_type, self._record)
        self.endpoint = Endpoint(reactor, self.config, self.session, "Core")
        self._port = reactor.listenUDP(
            0,
            self.endpoint,
            interface="127.0.0.1",
            maxPacketSize=MAX_PACKET_SIZE,
        )
        self.address = ("127.0.0.1", self._port.getHost().port)

    def close(self):
        """Close the connections, then the port."""
        closing = self.endpoint.close()
        return closing.addBoth(
            lambda _: defer.maybeDeferred(self._port.stopListening)
        )

    def _record(self, peer, message):
        self.received.append(message)

    def of_type(self, message_type):
        """Return the messages received of one type."""
        return [m for m in self.received if isinstance(m, message_type)]

    def request(self, message):
        """Send a request to the connected Cell."""
        return self.session.request(self.peer, message, timeout=TIMEOUT)

    def peer_connected(self, peer):
        self.peer = peer

    def peer_lost(self, peer):
        pass

    def peer_recovered(self, peer):
        pass

    def peer_disconnected(self, peer, graceful):
        if peer is self.peer:
            self.peer = None

    def message_received(self, peer, message):
        pass


async def wait_until(condition, what, timeout=TIMEOUT):
    """Poll ``condition`` every 0.2 s until it is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout} s")
        await task.deferLater(reactor, 0.2, lambda: None)


def marker_count(path):
    """Count the boot markers in a console log."""
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as log:
        return log.read().count(BOOT_MARKER)
