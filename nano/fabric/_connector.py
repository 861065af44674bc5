"""Keep a node connected to Core, finding it again after a loss."""

import ipaddress

from twisted.application.service import Service
from twisted.internet.defer import succeed
from twisted.logger import Logger

#: Seconds between two failed attempts, as in the original Nano.
RETRY_INTERVAL = 3.0


class CoreConnector(Service):
    """
    Finds Core, connects to it, and does both again whenever the
    connection ends.

    :param find: called with no arguments for each attempt; returns a
        Deferred that fires with ``(core_address, own_address)``, such
        as :meth:`DiscoveryClient.search`. Use :func:`fixed_core` for a
        configured address.
    """

    log = Logger()

    def __init__(self, clock, endpoint, find, retry=RETRY_INTERVAL):
        self._clock = clock
        self._endpoint = endpoint
        self._find = find
        self._retry = retry
        self._call = None
        self._attempt = None
        self.peer = None

    def startService(self):
        super().startService()
        self._connect()

    def stopService(self):
        super().stopService()
        if self._call is not None and self._call.active():
            self._call.cancel()
        if self._attempt is not None:
            self._attempt.cancel()
        if self.peer is not None:
            return self.peer.close()
        return None

    def _connect(self):
        self._call = None
        attempt = self._find()
        attempt.addCallback(self._found)
        attempt.addCallbacks(self._connected, self._failed)
        self._attempt = attempt

    def _found(self, result):
        core, own = result
        if own is None:
            self.log.info(
                "Connecting to Core at {host}:{port}",
                host=core[0],
                port=core[1],
            )
        else:
            self.log.info(
                "Found Core at {host}:{port}, which sees this node as {own}",
                host=core[0],
                port=core[1],
                own=own,
            )
        return self._endpoint.connect(core)

    def _connected(self, peer):
        self._attempt = None
        self.peer = peer
        peer.when_closed().addCallback(self._closed, peer)

    def _closed(self, _, peer):
        if self.peer is peer:
            self.peer = None
        if self.running:
            self.log.info("Connection to Core ended; searching again")
            self._connect()

    def _failed(self, failure):
        self._attempt = None
        if not self.running:
            return None
        self.log.warn(
            "Cannot reach Core: {error}; trying again in {retry} s",
            error=failure.getErrorMessage(),
            retry=self._retry,
        )
        self._call = self._clock.callLater(self._retry, self._connect)
        return None


def fixed_core(address):
    """
    Return a ``find`` function for :class:`CoreConnector` that always
    gives ``address`` (the ``--core HOST:PORT`` fallback).
    """
    return lambda: succeed((address, None))


def parse_core_address(text: str) -> tuple[str, int]:
    """
    Parse the ``--core`` option, ``IPV4-ADDRESS:PORT``.

    :raises ValueError: naming the value and the expected form.
    """
    host, _, port = text.rpartition(":")
    try:
        address = str(ipaddress.IPv4Address(host))
        number = int(port)
    except ValueError:
        number = 0
    if not 0 < number < 65536:
        raise ValueError(
            f"invalid Core address {text!r}: expected IPV4-ADDRESS:PORT, "
            "such as 10.0.0.1:5600"
        )
    return address, number
