"""
The fabric's UDP endpoint: authenticates datagrams, routes them to
connections, and opens connections to other nodes.

A connection is identified by the pair of random 64-bit epochs its two
ends chose for it. Both are in every datagram, so a datagram captured
from an earlier connection, even one between the same two processes,
names epochs that no longer exist and is dropped. Within a connection,
packet numbers and a replay window drop repeats.
"""

import ipaddress
import os
import socket
import struct

import orjson
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.error import MessageLengthError
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from . import _wire
from ._config import ETHERNET_DATAGRAM, LOOPBACK_DATAGRAM, FabricConfig
from ._drops import DropCounter
from ._peer import Peer
from ._reliable import ProtocolError
from ._wire import DatagramError, Kind

#: Socket receive size: one byte more than the largest UDP payload, so
#: that an oversized datagram is seen as such rather than cut short.
MAX_PACKET_SIZE = 65536
#: Most connections waiting for their handshake to complete.
MAX_HANDSHAKES = 256

STALE = "unknown connection epoch (stale or replayed)"
REPLAYED = "replayed or duplicated packet number"
UNEXPECTED = "unexpected datagram kind for this connection"
BAD_HELLO = "invalid handshake payload"
BROKEN = "protocol error"
#: Seconds between two RESETs to one address, and addresses remembered.
RESET_INTERVAL = 1.0
MAX_RESET_ADDRESSES = 4096
EPOCH = struct.Struct("!Q")
INTERNAL = "internal error while handling"


class ConnectTimeout(Exception):
    """No WELCOME came back from the address within the timeout."""


def datagram_size(config: FabricConfig, host: str) -> int:
    """
    Return the largest datagram to send to ``host``.

    Loopback has a 64 KiB MTU, so large datagrams cost no IP
    fragmentation there; elsewhere a datagram fits one Ethernet frame.
    """
    if config.max_datagram:
        return config.max_datagram
    try:
        loopback = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False
    return LOOPBACK_DATAGRAM if loopback else ETHERNET_DATAGRAM


class Endpoint(DatagramProtocol):
    """
    One node's end of the fabric, on one UDP socket.

    :param clock: the reactor, or a ``task.Clock`` in tests.
    :param observer: notified of peers and their messages; see
        :class:`nano.fabric.IPeerObserver`.
    :param name: this node's name, sent in handshakes (``Cell_...``).
    """

    log = Logger()

    def __init__(self, clock, config: FabricConfig, observer, name: str):
        self.clock = clock
        self.config = config
        self.observer = observer
        self.name = name
        self.node_id = os.urandom(_wire.NODE_ID_SIZE)
        self.hello_payload = orjson.dumps({"name": name})
        self.drops = DropCounter(clock)
        self.send_failures = DropCounter(clock, direction="to")
        self._max_receive = config.max_datagram or LOOPBACK_DATAGRAM
        self._by_epoch: dict[int, Peer] = {}
        self._handshakes: dict[tuple[bytes, int], Peer] = {}
        self._peers: dict[bytes, Peer] = {}
        self._connecting: dict[Peer, Deferred] = {}
        self._send = None
        self._resets: dict[tuple, float] = {}

    def startProtocol(self):
        """Enlarge the socket buffers to ``socket_buffer`` bytes."""
        handle = getattr(self.transport, "socket", None)
        if handle is None:
            self._send = self.transport.write
            return
        # Twisted's udp.Port.write checks the address with three parsers
        # on every call, which was a third of the cost of a send. Peer
        # addresses are IPv4 addresses already, so send on the socket.
        self._send = handle.sendto
        size = self.config.socket_buffer
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                handle.setsockopt(socket.SOL_SOCKET, option, size)
            except OSError as error:
                self.log.warn(
                    "Cannot set the socket buffer to {size} bytes: {error}",
                    size=size,
                    error=error,
                )

    @property
    def peers(self) -> list[Peer]:
        """Confirmed peers, in the order they connected."""
        return list(self._peers.values())

    # Opening and closing connections.

    def connect(self, address, timeout: float | None = None) -> Deferred:
        """
        Open a connection to the node at ``address``.

        :param address: ``(host, port)`` with an IPv4 address.
        :param timeout: seconds until giving up; ``connect_timeout``.
        :return: a Deferred that fires with the :class:`Peer`, or fails
            with :class:`ConnectTimeout`.
        :raises ValueError: ``host`` is not an IPv4 address.
        """
        host, port = address
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(
                f"invalid host {host!r}: the fabric needs an IPv4 address"
            ) from None
        peer = Peer(self, (host, port), datagram_size(self.config, host), True)
        self._by_epoch[peer.local_epoch] = peer
        timeout = self.config.connect_timeout if timeout is None else timeout
        connected = Deferred(lambda d: peer.abort())
        self._connecting[peer] = connected
        call = self.clock.callLater(
            timeout, self._connect_timeout, peer, timeout
        )
        connected.addBoth(_cancel_call, call)
        peer.start_initiator()
        return connected

    def _connect_timeout(self, peer, timeout):
        connected = self._connecting.pop(peer, None)
        peer.abort()
        if connected is not None:
            host, port = peer.address
            connected.errback(
                ConnectTimeout(
                    f"no reply from {host}:{port} within "
                    f"{timeout} s: check that Core "
                    "runs there, that UDP to that port is allowed and "
                    "that both hosts use the same domain.cfg secret"
                )
            )

    def close(self) -> Deferred:
        """Close every connection gracefully; fires when all are closed."""
        peers = set(self._by_epoch.values())
        return gatherResults([peer.close() for peer in peers])

    # Callbacks from peers.

    def write(self, data: bytes, address) -> None:
        """
        Send one datagram. A failed send counts as a lost datagram, which
        retransmission covers; it is counted in ``send_failures``.
        """
        try:
            self._send(data, address)
        except OSError as error:
            reason = f"send failed: {error.strerror or error}"
            self.send_failures.drop(reason, address)
        except MessageLengthError:
            self.send_failures.drop("send failed: too long", address)

    def peer_confirmed(self, peer: Peer) -> None:
        """Make ``peer`` the connection to its node, replacing any older."""
        self._handshakes.pop((peer.node_id, peer.remote_epoch), None)
        older = self._peers.get(peer.node_id)
        self._peers[peer.node_id] = peer
        if older is not None:
            older.abort()
        connected = self._connecting.pop(peer, None)
        self.log.info(
            "Connected to {name} at {host}:{port}",
            name=peer.name,
            host=peer.address[0],
            port=peer.address[1],
        )
        self.observer.peer_connected(peer)
        if connected is not None:
            connected.callback(peer)

    def forget(self, peer: Peer) -> None:
        """Remove a closed peer from every table."""
        self._by_epoch.pop(peer.local_epoch, None)
        self._handshakes.pop((peer.node_id, peer.remote_epoch), None)
        if self._peers.get(peer.node_id) is peer:
            del self._peers[peer.node_id]
        self._connecting.pop(peer, None)

    # Receiving.

    def datagramReceived(self, data: bytes, address) -> None:
        """Check and dispatch one datagram, catching every exception."""
        try:
            self._receive(data, address)
        except DatagramError as error:
            self.drops.drop(error.reason, address)
        except Exception:
            self.drops.drop(INTERNAL, address)
            self.log.failure(
                "Failed to handle a datagram from {address}", address=address
            )

    def _receive(self, data, address):
        header, payload = _wire.decode(
            self.config.secret, data, self._max_receive
        )
        kind = header.kind
        if kind == Kind.HELLO:
            self._hello(header, payload, address)
        elif kind == Kind.WELCOME:
            self._welcome(header, payload, address)
        elif kind in (Kind.PING, Kind.PONG):
            raise DatagramError(UNEXPECTED)
        elif kind == Kind.RESET:
            self._reset_received(header, payload)
        else:
            peer = self._peer_for(header, address)
            if not peer.node_id:
                raise DatagramError(UNEXPECTED)
            if not peer.accept_packet(header.packet):
                raise DatagramError(REPLAYED)
            if self._peers.get(peer.node_id) is not peer:
                peer.confirmed()
            peer.address = address
            self._deliver(peer, header, payload)

    def _deliver(self, peer, header, payload):
        try:
            peer.datagram_received(header, payload)
        except ProtocolError as error:
            self.log.warn(
                "Dropping connection to {name}: {error}",
                name=peer.name,
                error=error,
            )
            peer.abort()
            raise DatagramError(BROKEN) from None

    def _peer_for(self, header, address):
        peer = self._by_epoch.get(header.dst_epoch)
        if peer is None:
            self._send_reset(header, address)
            raise DatagramError(STALE)
        if (
            peer.node_id != header.node
            or peer.remote_epoch != header.src_epoch
        ):
            raise DatagramError(STALE)
        return peer

    def _send_reset(self, header, address):
        """
        Tell the sender that this endpoint has no connection with the
        epoch it named, because this process restarted or already closed
        it, so that the sender need not wait ``disconnect_after`` seconds.
        At most one RESET per address and second is sent.
        """
        now = self.clock.seconds()
        if now - self._resets.get(address, -RESET_INTERVAL) < RESET_INTERVAL:
            return
        if len(self._resets) >= MAX_RESET_ADDRESSES:
            self._resets.clear()
        self._resets[address] = now
        data = _wire.encode(
            self.config.secret,
            Kind.RESET,
            self.node_id,
            0,
            header.src_epoch,
            0,
            payload=EPOCH.pack(header.dst_epoch),
        )
        self.write(data, address)

    def _reset_received(self, header, payload):
        """
        Drop the connection that a RESET names by both its epochs. A RESET
        is only sent for an epoch its sender no longer has, and epochs are
        never reused, so a replayed RESET cannot end a live connection.
        """
        peer = self._by_epoch.get(header.dst_epoch)
        if (
            peer is None
            or len(payload) != EPOCH.size
            or EPOCH.unpack(payload)[0] != peer.remote_epoch
        ):
            raise DatagramError(STALE)
        self.log.info(
            "Peer {name} at {address} no longer knows this connection",
            name=peer.name,
            address=peer.address,
        )
        peer.reset_received()

    def _hello(self, header, payload, address):
        if header.dst_epoch != 0 or header.node == self.node_id:
            raise DatagramError(UNEXPECTED)
        current = self._peers.get(header.node)
        if current is not None and current.remote_epoch == header.src_epoch:
            raise DatagramError(REPLAYED)
        key = (header.node, header.src_epoch)
        peer = self._handshakes.get(key)
        if peer is None:
            name = _hello_name(payload)
            if len(self._handshakes) >= MAX_HANDSHAKES:
                oldest = next(iter(self._handshakes.values()))
                oldest.abort()
            peer = self._responder(header, name, address)
        peer.send_welcome()

    def _responder(self, header, name, address):
        host = address[0]
        peer = Peer(self, address, datagram_size(self.config, host), False)
        peer.node_id = header.node
        peer.remote_epoch = header.src_epoch
        peer.name = name
        peer.accept_packet(header.packet)
        self._by_epoch[peer.local_epoch] = peer
        self._handshakes[(header.node, header.src_epoch)] = peer
        self.clock.callLater(
            self.config.connect_timeout, self._expire_handshake, peer
        )
        return peer

    def _expire_handshake(self, peer):
        if self._handshakes.get((peer.node_id, peer.remote_epoch)) is peer:
            peer.abort()

    def _welcome(self, header, payload, address):
        peer = self._by_epoch.get(header.dst_epoch)
        if peer is None or not peer.initiator:
            raise DatagramError(STALE)
        if peer.node_id:
            raise DatagramError(REPLAYED)
        name = _hello_name(payload)
        peer.node_id = header.node
        peer.name = name
        peer.accept_packet(header.packet)
        peer.welcome(header.src_epoch)


def _hello_name(payload):
    try:
        name = orjson.loads(payload)["name"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise DatagramError(BAD_HELLO) from None
    if not isinstance(name, str) or len(name) > 255:
        raise DatagramError(BAD_HELLO)
    return name


def _cancel_call(result, call):
    if call.active():
        call.cancel()
    return result
