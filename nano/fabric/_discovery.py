"""
Discovery: nodes find Core by multicast, with no address configured.

A node sends PING datagrams (the fabric's datagram format, so signed
with the cluster secret) to the domain's group and port, with TTL 1 and
an explicit outgoing interface. Core replies to each PING of its own
domain with a unicast PONG that carries its transport address and the
address the PING came from. The payloads are JSON::

    PING {"domain": "nano", "nonce": 123}
    PONG {"domain": "nano", "nonce": 123,
          "core": ["10.0.0.1", 40123], "requestor": "10.0.0.7"}
"""

import os
import secrets

import orjson
from twisted.internet.defer import Deferred
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from . import _wire
from ._config import FabricConfig
from ._drops import DropCounter
from ._interface import HINT
from ._wire import DatagramError, Kind

#: Seconds between two PINGs of one search.
PING_INTERVAL = 1.0
#: Largest discovery datagram accepted.
MAX_DISCOVERY = 1024

OTHER_DOMAIN = "discovery datagram of another domain"
BAD_PAYLOAD = "invalid discovery payload"
UNEXPECTED = "unexpected datagram kind for discovery"


class DiscoveryError(Exception):
    """No Core was found. The message gives the cause and the fix."""


def _encode(config, node, kind, value):
    payload = orjson.dumps(value)
    return _wire.encode(config.secret, kind, node, 0, 0, 0, payload=payload)


def _decode(config, data, kind):
    header, payload = _wire.decode(config.secret, data, MAX_DISCOVERY)
    if header.kind != kind:
        raise DatagramError(UNEXPECTED)
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise DatagramError(BAD_PAYLOAD) from None
    if not isinstance(value, dict) or type(value.get("nonce")) is not int:
        raise DatagramError(BAD_PAYLOAD)
    if value.get("domain") != config.domain:
        raise DatagramError(OTHER_DOMAIN)
    return value


class DiscoveryResponder(DatagramProtocol):
    """
    Core's side: joins the group and replies to PINGs of its domain.

    Listen with ``reactor.listenMulticast(config.group_port, responder,
    listenMultiple=True)``.

    :param interface: the IPv4 address of the interface to join on.
    :param core_address: Core's transport ``(host, port)``.
    """

    log = Logger()

    def __init__(self, clock, config: FabricConfig, interface, core_address):
        self._config = config
        self._interface = interface
        self._core_address = list(core_address)
        self._node = os.urandom(_wire.NODE_ID_SIZE)
        self.drops = DropCounter(clock)

    def startProtocol(self):
        self.transport.setTTL(1)
        self.transport.setOutgoingInterface(self._interface)
        joined = self.transport.joinGroup(
            self._config.group_address, self._interface
        )
        joined.addErrback(self._join_failed)

    def _join_failed(self, failure):
        self.log.error(
            "Cannot join multicast group {group} on {interface}: {error}; "
            "Cells will need --core HOST:PORT",
            group=self._config.group_address,
            interface=self._interface,
            error=failure.getErrorMessage(),
        )

    def datagramReceived(self, data, address):
        """Reply to a PING of this domain; drop and count anything else."""
        try:
            ping = _decode(self._config, data, Kind.PING)
        except DatagramError as error:
            self.drops.drop(error.reason, address)
            return
        pong = {
            "domain": self._config.domain,
            "nonce": ping["nonce"],
            "core": self._core_address,
            "requestor": address[0],
        }
        data = _encode(self._config, self._node, Kind.PONG, pong)
        try:
            self.transport.write(data, address)
        except OSError as error:
            self.log.warn(
                "Failed to send a discovery reply to {address}: {error}",
                address=address,
                error=error,
            )


class DiscoveryClient(DatagramProtocol):
    """
    A node's side: searches for Core with PINGs to the group.

    Listen with ``reactor.listenMulticast(0, client, interface=address)``
    so that PINGs leave from the discovery interface's address.

    :param interface: the IPv4 address of the interface to send on.
    """

    log = Logger()

    def __init__(self, clock, config: FabricConfig, interface: str):
        self._clock = clock
        self._config = config
        self._interface = interface
        self._node = os.urandom(_wire.NODE_ID_SIZE)
        self._search = None
        self.drops = DropCounter(clock)

    def startProtocol(self):
        self.transport.setTTL(1)
        self.transport.setOutgoingInterface(self._interface)

    def search(self) -> Deferred:
        """
        Search for Core for up to ``timeout`` seconds.

        :return: a Deferred that fires with ``(core_address,
            own_address)`` or fails with :class:`DiscoveryError`.
        """
        if self._search is not None:
            return self._search.waiting()
        self._search = _Search(self, secrets.randbits(63))
        return self._search.start()

    def send_ping(self, nonce: int) -> None:
        """Send one PING to the group; raises OSError if sending fails."""
        ping = {"domain": self._config.domain, "nonce": nonce}
        data = _encode(self._config, self._node, Kind.PING, ping)
        group = (self._config.group_address, self._config.group_port)
        self.transport.write(data, group)

    def datagramReceived(self, data, address):
        """Take a PONG of the current search; drop anything else."""
        try:
            pong = _decode(self._config, data, Kind.PONG)
            core = _address(pong.get("core"))
            requestor = pong.get("requestor")
            if not isinstance(requestor, str):
                raise DatagramError(BAD_PAYLOAD)
        except DatagramError as error:
            self.drops.drop(error.reason, address)
            return
        search = self._search
        if search is not None and search.nonce == pong["nonce"]:
            self._search = None
            search.found(core, requestor)

    def search_ended(self, search) -> None:
        """Forget a search that failed."""
        if self._search is search:
            self._search = None

    def describe(self) -> str:
        """Name the group, domain and interface, for error messages."""
        config = self._config
        return (
            f"domain {config.domain!r} on {config.group_address}:"
            f"{config.group_port} via {self._interface}"
        )


def _address(value):
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], str)
        or type(value[1]) is not int
        or not 0 < value[1] < 65536
    ):
        raise DatagramError(BAD_PAYLOAD)
    return value[0], value[1]


class _Search:
    """One search: PINGs every second until a PONG or the timeout."""

    def __init__(self, client, nonce):
        self._client = client
        self._clock = client._clock
        self.nonce = nonce
        self._waiters = []
        self._ping_call = None
        self._timeout_call = None

    def start(self):
        timeout = self._client._config.timeout
        self._timeout_call = self._clock.callLater(timeout, self._timed_out)
        waiting = self.waiting()
        self._ping()
        return waiting

    def waiting(self):
        deferred = Deferred()
        self._waiters.append(deferred)
        return deferred

    def _ping(self):
        self._ping_call = None
        try:
            self._client.send_ping(self.nonce)
        except OSError as error:
            self._fail(
                f"cannot send a multicast PING for "
                f"{self._client.describe()}: {error.strerror or error}; "
                f"{HINT}"
            )
            return
        self._ping_call = self._clock.callLater(PING_INTERVAL, self._ping)

    def _timed_out(self):
        self._timeout_call = None
        timeout = self._client._config.timeout
        self._fail(
            f"no Core answered in {self._client.describe()} within "
            f"{timeout} s: check that Core runs with the same domain.cfg "
            f"and that multicast passes between the hosts, or {HINT}"
        )

    def _fail(self, message):
        self._client.search_ended(self)
        self._finish(lambda waiter: waiter.errback(DiscoveryError(message)))

    def found(self, core, requestor):
        self._finish(lambda waiter: waiter.callback((core, requestor)))

    def _finish(self, fire):
        for call in (self._ping_call, self._timeout_call):
            if call is not None and call.active():
                call.cancel()
        self._ping_call = self._timeout_call = None
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            fire(waiter)
