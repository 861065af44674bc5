"""
An in-memory network for fast tests of code that uses the fabric.

Endpoints attached to a :class:`MemoryNetwork` exchange datagrams through
a ``task.Clock``, with optional random loss, duplication and reordering,
so a test can drive minutes of protocol time in milliseconds.
"""

import random

from twisted.internet.task import Clock


class _MemoryTransport:
    def __init__(self, network, address, endpoint):
        self._network = network
        self._address = address
        self._endpoint = endpoint

    def write(self, data, address):
        if self._network.attached(self._address) is self._endpoint:
            self._network.send(data, self._address, address)

    def getHost(self):
        return self._address


class MemoryNetwork:
    """
    Delivers datagrams between endpoints after a delay on a shared clock.

    The parameters are also attributes, so a test may change them while
    it runs.

    :param delay: seconds from send to delivery.
    :param loss: probability that a datagram is dropped.
    :param duplicate: probability that a datagram is delivered twice.
    :param reorder: probability that a datagram is held back by up to
        ``jitter`` seconds, so later ones overtake it.
    :ivar sent: every datagram sent, as ``(data, source, destination)``,
        for tests that replay or alter them.
    :ivar tamper: if set, called with ``(data, source, destination)``
        for each datagram; it returns the bytes to deliver, or None to
        drop them.
    """

    def __init__(
        self,
        clock: Clock,
        seed: int = 0,
        delay: float = 0.0005,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        jitter: float = 0.005,
    ):
        self.clock = clock
        self._random = random.Random(seed)
        self.delay = delay
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder
        self.jitter = jitter
        self._endpoints = {}
        self.sent = []
        self.record = False
        self.tamper = None

    def attach(self, endpoint, address):
        """Give ``endpoint`` a transport bound to ``address``."""
        self._endpoints[address] = endpoint
        endpoint.makeConnection(_MemoryTransport(self, address, endpoint))

    def detach(self, address):
        """
        Remove the endpoint at ``address``, as if its process died: it
        sends and receives nothing from now on.
        """
        del self._endpoints[address]

    def attached(self, address):
        """Return the endpoint at ``address``, or None."""
        return self._endpoints.get(address)

    def send(self, data, source, destination):
        """Deliver one datagram, subject to loss, duplication, delay."""
        if self.record:
            self.sent.append((data, source, destination))
        if self.tamper is not None:
            data = self.tamper(data, source, destination)
            if data is None:
                return
        chance = self._random.random
        if chance() < self.loss:
            return
        copies = 2 if chance() < self.duplicate else 1
        for _ in range(copies):
            delay = self.delay
            if chance() < self.reorder:
                delay += chance() * self.jitter
            self.clock.callLater(
                delay, self.deliver, data, source, destination
            )

    def deliver(self, data, source, destination):
        """Hand a datagram to the endpoint at ``destination``, if any."""
        endpoint = self._endpoints.get(destination)
        if endpoint is not None:
            endpoint.datagramReceived(data, source)


def run(clock: Clock, seconds: float, until=None) -> None:
    """
    Advance ``clock`` by up to ``seconds``, one pending call at a time,
    so that every call runs at its own time.

    :param until: stop early once this callable returns true.
    """
    end = clock.seconds() + seconds
    while until is None or not until():
        calls = [call.getTime() for call in clock.getDelayedCalls()]
        due = min(calls, default=end + 1)
        if due > end:
            clock.advance(end - clock.seconds())
            return
        clock.advance(max(0.0, due - clock.seconds()))
