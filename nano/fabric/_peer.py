"""
One connection to another node, and its lifecycle as a state machine.

States: ``handshaking`` until the other side proves that it has the new
connection epochs, ``connected``, ``lost`` after ``lost_after`` seconds
of silence, ``closing`` while a graceful close waits for its data to be
acknowledged, and ``closed``. A lost peer that is heard again is
connected once more; one silent for ``disconnect_after`` seconds is
closed and reported as disconnected, not gracefully.
"""

import secrets

from automat import MethodicalMachine
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from . import _wire
from ._reliable import SACK_BITS, ProtocolError, Receiver, Sender
from ._replay import ReplayWindow
from ._rto import RetransmitTimeout
from ._wire import Kind

#: In-order segments after which an ack is sent at the end of the
#: current reactor turn, rather than after ``ack_delay``. Segments read
#: in one turn thus share one ack.
ACK_EVERY = 2
SACK_MASK = (1 << SACK_BITS) - 1
#: CLOSE datagrams sent before a closing peer gives up on the CLOSE_ACK.
CLOSE_ATTEMPTS = 3


def _ignore():
    pass


class PeerClosed(Exception):
    """A message was sent to a peer that is closing or closed."""


def new_epoch() -> int:
    """Return a random, non-zero 64-bit connection epoch."""
    return secrets.randbits(64) or 1


class Peer:
    """
    A connection to one remote node.

    :ivar node_id: the remote node's id (16 bytes).
    :ivar name: the name the remote node gave in its handshake.
    :ivar address: the remote ``(host, port)``.
    """

    _machine = MethodicalMachine()
    log = Logger()

    def __init__(self, endpoint, address, max_datagram, initiator):
        self._endpoint = endpoint
        self._clock = endpoint.clock
        self._config = endpoint.config
        self.address = address
        self.initiator = initiator
        self.node_id = b""
        self.name = ""

        self.local_epoch = new_epoch()
        self.remote_epoch = 0
        self._packet = 0
        self._replay = ReplayWindow()

        self._sender = self._new_sender(max_datagram - _wire.OVERHEAD)
        self._receiver = Receiver(
            self._config.window, self._config.max_message
        )
        self._sack_bytes = (self._config.window + 7) // 8
        self._unacked = 0
        self._last_heard = self._clock.seconds()
        self._close_attempts = 0
        self._closed = Deferred()
        self._calls = {}

        # Hot paths call these instead of machine inputs, because an input
        # costs tens of microseconds. The machine's outputs swap them when
        # the state changes (open or closing, connected or lost).
        self._outbox = self._sender.queue
        self._on_heard = _ignore
        self._on_idle = _ignore

    def _new_sender(self, max_payload):
        config = self._config
        rto = RetransmitTimeout(
            config.retransmit_initial,
            config.retransmit_min,
            config.retransmit_max,
        )
        return Sender(
            max_payload,
            config.window,
            config.max_message,
            rto,
            config.socket_buffer // 2,
        )

    def __repr__(self):
        host, port = self.address
        return f"<Peer {self.name or '?'} at {host}:{port}>"

    # Public interface.

    def send(self, message: bytes) -> None:
        """
        Queue one message for reliable, ordered delivery.

        :raises ValueError: the message exceeds ``max_message``.
        :raises PeerClosed: the peer is closing or closed.
        """
        self._outbox(message)
        self._schedule("turn", 0, self._end_turn)

    def _refuse(self, message):
        raise PeerClosed(f"cannot send to {self.name}: connection closed")

    def close(self) -> Deferred:
        """
        Close gracefully once queued messages are acknowledged.

        :return: a Deferred that fires when the peer is closed.
        """
        self.close_requested()
        return self.when_closed()

    def when_closed(self) -> Deferred:
        """Return a Deferred that fires with None once closed."""
        if self._closed is None:
            return succeed(None)
        waiting = Deferred()
        self._closed.addBoth(lambda result: waiting.callback(None) or result)
        return waiting

    # Received datagrams, dispatched by the endpoint after checks.

    def accept_packet(self, packet: int) -> bool:
        """Return whether the packet number is new (not a replay)."""
        return self._replay.accept(packet)

    def datagram_received(self, header, payload) -> None:
        """Handle one authenticated datagram of this connection."""
        self._last_heard = self._clock.seconds()
        kind = header.kind
        if kind == Kind.DATA:
            self._apply_ack(header)
            self._data(header.seq, payload)
        elif kind == Kind.ACK:
            self._apply_ack(header, self._full_sack(header, payload))
        elif kind == Kind.HEARTBEAT:
            self._apply_ack(header)
        elif kind == Kind.CLOSE:
            self._apply_ack(header)
            self._write(Kind.CLOSE_ACK)
            self.close_received()
            return
        elif kind == Kind.CLOSE_ACK:
            self.close_done()
            return
        self._on_heard()

    def start_initiator(self) -> None:
        """Send HELLO and retry until WELCOME arrives."""
        self._hello_attempt(self._config.retransmit_initial)

    def _hello_attempt(self, interval):
        self._write(Kind.HELLO, payload=self._endpoint.hello_payload)
        retry = min(interval * 2, self._config.retransmit_max)
        self._schedule("hello", interval, self._hello_attempt, retry)

    def welcome(self, remote_epoch: int) -> None:
        """Take the responder's epoch from WELCOME and confirm it."""
        self._cancel("hello")
        self.remote_epoch = remote_epoch
        self._write(Kind.ACK)
        self.confirmed()

    def send_welcome(self) -> None:
        """Send WELCOME in reply to a HELLO, again for each repeated HELLO."""
        self._write(Kind.WELCOME, payload=self._endpoint.hello_payload)

    # Sending.

    def _write(self, kind, seq=0, payload=b""):
        self._packet += 1
        receiver = self._receiver
        if kind == Kind.ACK and receiver.out_of_order:
            ack, sack = receiver.ack_fields(self._config.window)
            payload = sack.to_bytes(self._sack_bytes, "little")
            sack &= SACK_MASK
        else:
            ack, sack = receiver.ack_fields()
        if kind != Kind.HELLO:
            self._unacked = 0
            self._cancel("ack")
        data = _wire.encode(
            self._config.secret,
            kind,
            self._endpoint.node_id,
            self.local_epoch,
            self.remote_epoch,
            self._packet,
            seq,
            ack,
            sack,
            payload,
        )
        self._endpoint.write(data, self.address)

    def _end_turn(self):
        """
        Send what this reactor turn queued, with the ack riding on it, and
        then any ack still owed: at once after ``ACK_EVERY`` segments, so
        that segments read in one turn share an ack, else after
        ``ack_delay``.
        """
        self._flush()
        if not self._unacked:
            return
        if self._unacked >= ACK_EVERY:
            self._write(Kind.ACK)
        else:
            self._schedule("ack", self._config.ack_delay, self._ack)

    def _flush(self):
        if not self.remote_epoch:
            return
        now = self._clock.seconds()
        segments = self._sender.take(now)
        for seq, payload in segments:
            self._write(Kind.DATA, seq, payload)
        if segments:
            self._arm_retransmit(now + self._sender.rto.timeout)
        if self._sender.idle:
            self._on_idle()

    def _arm_retransmit(self, due):
        """
        Make the retransmission timer fire by ``due``. The timer is not
        moved on every ack; when it fires early it sleeps until the
        oldest segment's deadline, which saves a timer per round trip.
        """
        call = self._calls.get("rto")
        delay = max(due - self._clock.seconds(), 0.0)
        if call is None:
            self._schedule("rto", delay, self._retransmit)
        elif call.getTime() > due:
            call.reset(delay)

    def _retransmit(self):
        sender = self._sender
        if not sender.in_flight:
            return
        now = self._clock.seconds()
        expired = sender.expired(now)
        for seq in expired:
            self._write(Kind.DATA, seq, sender.resend(seq, now))
        if expired:
            sender.rto.back_off()
        self._arm_retransmit(sender.next_deadline())

    def _full_sack(self, header, payload):
        if not payload:
            return header.sack
        if len(payload) > self._sack_bytes:
            raise ProtocolError(
                f"selective-ack bitmap of {len(payload)} bytes is longer "
                f"than the window ({self._sack_bytes} bytes)"
            )
        return int.from_bytes(payload, "little")

    def _apply_ack(self, header, sack=None):
        sender = self._sender
        acked_below = sender.acked_below
        in_flight = len(sender.in_flight)
        now = self._clock.seconds()
        if sack is None:
            sack = header.sack
        resend = sender.acknowledge(header.ack, sack, now)
        for seq in resend:
            self._write(Kind.DATA, seq, sender.resend(seq, now))
        if len(sender.in_flight) < in_flight and sender.unsent:
            self._schedule("turn", 0, self._end_turn)
        if sender.idle and sender.acked_below != acked_below:
            self._on_idle()

    # Receiving.

    def _data(self, seq, payload):
        messages = self._receiver.receive(seq, payload)
        if messages is None or self._receiver.out_of_order:
            self._write(Kind.ACK)
        else:
            self._unacked += 1
            self._schedule("turn", 0, self._end_turn)
        if messages:
            deliver = self._endpoint.observer.message_received
            for message in messages:
                deliver(self, message)

    def _ack(self):
        self._write(Kind.ACK)

    # Timers.

    def _schedule(self, name, delay, function, *args, replace=False):
        call = self._calls.get(name)
        if call is not None:
            if not replace:
                return
            call.cancel()

        def run():
            del self._calls[name]
            function(*args)

        self._calls[name] = self._clock.callLater(delay, run)

    def _cancel(self, name):
        call = self._calls.pop(name, None)
        if call is not None:
            call.cancel()

    def _heartbeat(self):
        self._write(Kind.HEARTBEAT)
        interval = self._config.heartbeat_interval
        self._schedule("heartbeat", interval, self._heartbeat)

    def _watch(self):
        config = self._config
        silence = self._clock.seconds() - self._last_heard
        if silence >= config.disconnect_after:
            self.silent_too_long()
            return
        if silence >= config.lost_after:
            self.silent()
            limit = config.disconnect_after
        else:
            limit = config.lost_after
        self._schedule("watch", limit - silence, self._watch)

    # The state machine.

    @_machine.state(initial=True)
    def handshaking(self):
        """HELLO sent or received; the connection is not confirmed yet."""

    @_machine.state()
    def connected(self):
        """The peer was heard within ``lost_after`` seconds."""

    @_machine.state()
    def lost(self):
        """Silent for ``lost_after`` seconds; may still come back."""

    @_machine.state()
    def closing(self):
        """Closing gracefully: flushing, then CLOSE until acknowledged."""

    @_machine.state()
    def closed(self):
        """Gone; every timer is cancelled and nothing is sent."""

    @_machine.input()
    def confirmed(self):
        """The other side proved that it has both connection epochs."""

    @_machine.input()
    def heard(self):
        """An authenticated datagram of this connection arrived."""

    @_machine.input()
    def silent(self):
        """Nothing heard for ``lost_after`` seconds."""

    @_machine.input()
    def silent_too_long(self):
        """Nothing heard for ``disconnect_after`` seconds."""

    @_machine.input()
    def close_requested(self):
        """This side asked for a graceful close."""

    @_machine.input()
    def close_received(self):
        """The other side closed gracefully."""

    @_machine.input()
    def close_done(self):
        """Our CLOSE was acknowledged, or its attempts ran out."""

    @_machine.input()
    def sender_idle(self):
        """Everything queued was sent and acknowledged."""

    @_machine.input()
    def reset_received(self):
        """The other side no longer has this connection."""

    @_machine.input()
    def abort(self):
        """Drop the connection now: a protocol error or a replacement."""

    @_machine.output()
    def _start(self):
        self._schedule("turn", 0, self._end_turn)
        self._last_heard = self._clock.seconds()
        self._schedule("heartbeat", 0, self._heartbeat)
        self._schedule("watch", self._config.lost_after, self._watch)
        self._endpoint.peer_confirmed(self)

    @_machine.output()
    def _notify_lost(self):
        self._on_heard = self.heard
        self.log.warn(
            "Peer {name} at {address} lost: silent for {seconds} s",
            name=self.name,
            address=self.address,
            seconds=self._config.lost_after,
        )
        self._endpoint.observer.peer_lost(self)

    @_machine.output()
    def _notify_recovered(self):
        self._on_heard = _ignore
        self.log.info("Peer {name} heard again", name=self.name)
        self._endpoint.observer.peer_recovered(self)

    @_machine.output()
    def _begin_close(self):
        self._outbox = self._refuse
        self._on_heard = _ignore
        self._on_idle = self.sender_idle
        self._schedule("turn", 0, self._end_turn)
        limit = self._config.disconnect_after
        self._schedule("close", limit, self._close_timeout)

    @_machine.output()
    def _send_close(self):
        if self._close_attempts == 0:
            self._cancel("close")
            self._close_attempt()

    def _close_timeout(self):
        self.log.warn(
            "Closing {name}: unacknowledged data after {seconds} s",
            name=self.name,
            seconds=self._config.disconnect_after,
        )
        self._close_attempt()

    def _close_attempt(self):
        if self._close_attempts == CLOSE_ATTEMPTS:
            self.close_done()
            return
        self._close_attempts += 1
        self._write(Kind.CLOSE)
        timeout = self._sender.rto.timeout
        self._schedule("close", timeout, self._close_attempt, replace=True)

    @_machine.output()
    def _stop(self):
        self._outbox = self._refuse
        self._on_heard = self._on_idle = _ignore
        for call in self._calls.values():
            call.cancel()
        self._calls.clear()
        self._endpoint.forget(self)

    @_machine.output()
    def _notify_graceful(self):
        self._disconnected(graceful=True)

    @_machine.output()
    def _notify_abrupt(self):
        self._disconnected(graceful=False)

    def _disconnected(self, graceful):
        self.log.info(
            "Peer {name} at {address} disconnected (graceful: {graceful})",
            name=self.name,
            address=self.address,
            graceful=graceful,
        )
        self._endpoint.observer.peer_disconnected(self, graceful)
        self._fire_closed()

    @_machine.output()
    def _finish(self):
        self._fire_closed()

    def _fire_closed(self):
        closed, self._closed = self._closed, None
        if closed is not None:
            closed.callback(None)

    handshaking.upon(confirmed, enter=connected, outputs=[_start])
    handshaking.upon(heard, enter=handshaking, outputs=[])
    handshaking.upon(close_requested, enter=closed, outputs=[_stop, _finish])
    handshaking.upon(abort, enter=closed, outputs=[_stop, _finish])
    handshaking.upon(reset_received, enter=closed, outputs=[_stop, _finish])
    handshaking.upon(close_received, enter=closed, outputs=[_stop, _finish])
    handshaking.upon(close_done, enter=handshaking, outputs=[])
    handshaking.upon(sender_idle, enter=handshaking, outputs=[])

    for _live in (connected, lost):
        _live.upon(
            silent_too_long, enter=closed, outputs=[_stop, _notify_abrupt]
        )
        _live.upon(close_requested, enter=closing, outputs=[_begin_close])
        _live.upon(
            close_received, enter=closed, outputs=[_stop, _notify_graceful]
        )
        _live.upon(abort, enter=closed, outputs=[_stop, _notify_abrupt])
        _live.upon(
            reset_received, enter=closed, outputs=[_stop, _notify_abrupt]
        )
        _live.upon(confirmed, enter=_live, outputs=[])
        _live.upon(close_done, enter=_live, outputs=[])
        _live.upon(sender_idle, enter=_live, outputs=[])
    del _live
    connected.upon(heard, enter=connected, outputs=[])
    connected.upon(silent, enter=lost, outputs=[_notify_lost])
    lost.upon(heard, enter=connected, outputs=[_notify_recovered])
    lost.upon(silent, enter=lost, outputs=[])

    closing.upon(heard, enter=closing, outputs=[])
    closing.upon(silent, enter=closing, outputs=[])
    closing.upon(confirmed, enter=closing, outputs=[])
    closing.upon(close_requested, enter=closing, outputs=[])
    closing.upon(sender_idle, enter=closing, outputs=[_send_close])
    closing.upon(close_done, enter=closed, outputs=[_stop, _notify_graceful])
    closing.upon(
        close_received, enter=closed, outputs=[_stop, _notify_graceful]
    )
    closing.upon(
        silent_too_long, enter=closed, outputs=[_stop, _notify_abrupt]
    )
    closing.upon(abort, enter=closed, outputs=[_stop, _notify_abrupt])
    # The other side closed and forgot the connection, and only our
    # CLOSE_ACK was lost.
    closing.upon(
        reset_received, enter=closed, outputs=[_stop, _notify_graceful]
    )

    for _input in (
        confirmed,
        heard,
        silent,
        silent_too_long,
        close_requested,
        close_received,
        close_done,
        sender_idle,
        reset_received,
        abort,
    ):
        closed.upon(_input, enter=closed, outputs=[])
    del _input
