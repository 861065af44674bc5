"""
Requests, replies and one-way messages between peers.

Each request carries a new session id of its sender (``from_session``).
The reply carries it back as ``to_session``, which fires the Deferred of
the task that is waiting for it.
"""

from collections.abc import Callable

from twisted.internet.defer import Deferred, fail
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ._messages import ErrorReply, MessageError, MessageRegistry
from ._observer import IPeerObserver
from ._peer import PeerClosed


class RequestTimeout(Exception):
    """No reply arrived within the request's timeout."""


class RemoteError(Exception):
    """The peer replied to a request with an :class:`ErrorReply`."""


class PeerDisconnected(Exception):
    """The peer disconnected while a request to it waited for a reply."""


class _Waiting:
    __slots__ = ("deferred", "peer", "timer")

    def __init__(self, peer, deferred, timer):
        self.peer = peer
        self.deferred = deferred
        self.timer = timer


@implementer(IPeerObserver)
class Session:
    """
    Routes decoded messages to handlers and replies to requests.

    It is the endpoint's observer and passes the peer lifecycle on to
    ``observer``, an :class:`IPeerObserver` whose ``message_received``
    is not called.

    :param request_timeout: default seconds a request waits for a reply.
    """

    log = Logger()

    def __init__(
        self,
        clock,
        registry: MessageRegistry,
        observer=None,
        request_timeout: float = 10.0,
    ):
        self._clock = clock
        self._registry = registry
        self._observer = observer
        self._request_timeout = request_timeout
        self._handlers: dict[str, Callable] = {}
        self._waiting: dict[int, _Waiting] = {}
        self._next_session = 1

    def handle(self, message_type, handler: Callable) -> None:
        """
        Call ``handler(peer, message)`` for each message of a type.

        For a request, the handler returns the reply message (or a
        Deferred of it); an exception becomes an :class:`ErrorReply`.
        For a one-way message its result is ignored.
        """
        self._handlers[message_type.type_name] = handler

    def send(self, peer, message) -> None:
        """Send a one-way message, such as a status report."""
        peer.send(self._registry.encode(message))

    def request(self, peer, message, timeout: float | None = None):
        """
        Send a request and wait for its reply.

        :return: a Deferred that fires with the reply message, or fails
            with :class:`RequestTimeout`, :class:`RemoteError`,
            :class:`PeerDisconnected` or, for a peer already closing,
            :class:`PeerClosed`.
        """
        session = self._next_session
        self._next_session += 1
        data = self._registry.encode(message, from_session=session)
        if timeout is None:
            timeout = self._request_timeout
        try:
            peer.send(data)
        except PeerClosed as error:
            return fail(error)
        deferred = Deferred(lambda _: self._forget(session))
        timer = self._clock.callLater(
            timeout, self._timed_out, session, message, timeout
        )
        self._waiting[session] = _Waiting(peer, deferred, timer)
        return deferred

    def _forget(self, session):
        waiting = self._waiting.pop(session, None)
        if waiting is not None and waiting.timer.active():
            waiting.timer.cancel()
        return waiting

    def _timed_out(self, session, message, timeout):
        waiting = self._waiting.pop(session, None)
        if waiting is not None:
            waiting.deferred.errback(
                RequestTimeout(
                    f"no reply to {message.type_name} from "
                    f"{waiting.peer.name} within {timeout} s"
                )
            )

    # IPeerObserver

    def message_received(self, peer, data: bytes) -> None:
        """Decode one message and route it to a handler or a request."""
        try:
            message, envelope = self._registry.decode(data)
        except MessageError as error:
            self._malformed(peer, error)
            return
        to_session = envelope.get("to_session")
        if to_session is not None:
            self._reply_received(peer, to_session, message)
        elif isinstance(message, ErrorReply):
            self.log.warn(
                "Error from {name}: {error}",
                name=peer.name,
                error=message.error,
            )
        else:
            self._dispatch(peer, message, envelope.get("from_session"))

    def _malformed(self, peer, error):
        to_session = error.envelope.get("to_session")
        if to_session is not None:
            self._fail(peer, to_session, RemoteError(str(error)))
            return
        self.log.warn(
            "Invalid message from {name}: {error}", name=peer.name, error=error
        )
        envelope = {}
        if "from_session" in error.envelope:
            envelope["to_session"] = error.envelope["from_session"]
        peer.send(
            self._registry.encode(ErrorReply(error=str(error)), **envelope)
        )

    def _reply_received(self, peer, session, message):
        waiting = self._waiting.get(session)
        if waiting is None or waiting.peer is not peer:
            self.log.info(
                "Ignored a late {type} from {name} for session {session}",
                type=message.type_name,
                name=peer.name,
                session=session,
            )
            return
        self._forget(session)
        if isinstance(message, ErrorReply):
            waiting.deferred.errback(RemoteError(message.error))
        else:
            waiting.deferred.callback(message)

    def _fail(self, peer, session, error):
        waiting = self._waiting.get(session)
        if waiting is not None and waiting.peer is peer:
            self._forget(session)
            waiting.deferred.errback(error)

    def _dispatch(self, peer, message, from_session):
        handler = self._handlers.get(message.type_name)
        if handler is None:
            error = f"no handler for message type {message.type_name}"
            self._answer(peer, from_session, ErrorReply(error=error))
            return
        try:
            result = handler(peer, message)
        except Exception:
            result = self._handler_failed(Failure(), peer, message)
        if isinstance(result, Deferred):
            result.addErrback(self._handler_failed, peer, message)
            if from_session is not None:
                result.addCallback(self._reply, peer, message, from_session)
        elif from_session is not None:
            self._reply(result, peer, message, from_session)

    def _reply(self, reply, peer, message, from_session):
        reply = self._check_reply(reply, peer, message)
        self._answer(peer, from_session, reply)

    def _handler_failed(self, failure, peer, message):
        self.log.failure(
            "Handler for {type} from {name} failed",
            failure,
            type=message.type_name,
            name=peer.name,
        )
        return ErrorReply(
            error=f"{message.type_name} failed: {failure.getErrorMessage()}"
        )

    def _check_reply(self, reply, peer, message):
        if self._registry.registered(reply):
            return reply
        self.log.error(
            "Handler for {type} from {name} returned {reply!r}, not a "
            "registered message",
            type=message.type_name,
            name=peer.name,
            reply=reply,
        )
        return ErrorReply(error=f"{message.type_name} got no reply")

    def _answer(self, peer, from_session, reply):
        if from_session is None:
            if not isinstance(reply, ErrorReply):
                return
            data = self._registry.encode(reply)
        else:
            data = self._registry.encode(reply, to_session=from_session)
        try:
            peer.send(data)
        except PeerClosed:
            self.log.info(
                "Dropped a {type} for {name}: the connection closed first",
                type=reply.type_name,
                name=peer.name,
            )

    # The peer lifecycle, passed on.

    def peer_connected(self, peer):
        if self._observer is not None:
            self._observer.peer_connected(peer)

    def peer_lost(self, peer):
        if self._observer is not None:
            self._observer.peer_lost(peer)

    def peer_recovered(self, peer):
        if self._observer is not None:
            self._observer.peer_recovered(peer)

    def peer_disconnected(self, peer, graceful):
        failed = [
            session
            for session, waiting in self._waiting.items()
            if waiting.peer is peer
        ]
        for session in failed:
            self._fail(
                peer,
                session,
                PeerDisconnected(f"{peer.name} disconnected before replying"),
            )
        if self._observer is not None:
            self._observer.peer_disconnected(peer, graceful)
