"""Messages, requests and replies between two sessions."""

import attrs
import pytest
from fabric_helpers import Pair, Recorder
from twisted.internet.defer import Deferred
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from nano.fabric import (
    ErrorReply,
    MessageError,
    MessageRegistry,
    PeerClosed,
    PeerDisconnected,
    RemoteError,
    RequestTimeout,
    Session,
)

registry = MessageRegistry()


@registry.message("CreateInstanceRequest")
class CreateInstanceRequest:
    name: str
    cores: int = 1


@registry.message("CreateInstanceResponse")
class CreateInstanceResponse:
    instance_id: str


@registry.message("CellStatusReport")
class CellStatusReport:
    load: float


class SessionPair:
    """Sessions on both ends of a connected :class:`Pair`."""

    def __init__(self, **network):
        self.pair = Pair(connect=False, **network)
        self.clock = self.pair.clock
        self.cell = Session(self.clock, registry, Recorder())
        self.core = Session(self.clock, registry, Recorder())
        self.pair.a.observer = self.cell
        self.pair.b.observer = self.core
        self.to_core = self.pair.connect()
        (self.to_cell,) = self.pair.b.peers

    def run(self, seconds=1.0):
        self.pair.run(seconds)


class RequestTests(SynchronousTestCase):
    """Requests and their replies."""

    def test_reply_reaches_the_waiting_request(self):
        """Each reply fires the request it answers, over a lossy link."""
        both = SessionPair(loss=0.1, reorder=0.3)
        seen = []

        def create(peer, request):
            seen.append((peer.name, request))
            return CreateInstanceResponse(instance_id=f"id-{request.name}")

        both.core.handle(CreateInstanceRequest, create)
        first = both.cell.request(
            both.to_core, CreateInstanceRequest(name="a")
        )
        second = both.cell.request(
            both.to_core, CreateInstanceRequest(name="b", cores=4)
        )
        both.run(5)
        self.assertEqual(self.successResultOf(second).instance_id, "id-b")
        self.assertEqual(self.successResultOf(first).instance_id, "id-a")
        self.assertEqual(
            seen,
            [
                ("A", CreateInstanceRequest(name="a", cores=1)),
                ("A", CreateInstanceRequest(name="b", cores=4)),
            ],
        )

    def test_deferred_reply_from_handler(self):
        """A handler may return a Deferred of its reply."""
        both = SessionPair()
        later = Deferred()
        both.core.handle(CreateInstanceRequest, lambda peer, request: later)
        reply = both.cell.request(
            both.to_core, CreateInstanceRequest(name="a")
        )
        both.run(3)
        self.assertNoResult(reply)
        later.callback(CreateInstanceResponse(instance_id="late"))
        both.run(1)
        self.assertEqual(self.successResultOf(reply).instance_id, "late")

    def test_request_times_out_after_10_s_by_default(self):
        """A request without reply fails after 10 s with a clear message."""
        both = SessionPair()
        both.core.handle(CreateInstanceRequest, lambda *_: Deferred())
        reply = both.cell.request(
            both.to_core, CreateInstanceRequest(name="a")
        )
        both.run(9.9)
        self.assertNoResult(reply)
        both.run(0.2)
        failure = self.failureResultOf(reply, RequestTimeout)
        self.assertEqual(
            str(failure.value),
            "no reply to CreateInstanceRequest from B within 10.0 s",
        )

    def test_unknown_message_type_gets_error_reply(self):
        """A request with no handler fails with the remote error."""
        both = SessionPair()
        reply = both.cell.request(
            both.to_core, CreateInstanceRequest(name="a")
        )
        both.run(1)
        failure = self.failureResultOf(reply, RemoteError)
        self.assertEqual(
            str(failure.value),
            "no handler for message type CreateInstanceRequest",
        )

    def test_handler_exception_becomes_error_reply(self):
        """A handler's exception reaches the requester as RemoteError."""
        both = SessionPair()

        def broken(peer, request):
            raise ValueError("no room for 4 cores")

        both.core.handle(CreateInstanceRequest, broken)
        reply = both.cell.request(
            both.to_core, CreateInstanceRequest(name="a")
        )
        both.run(1)
        failure = self.failureResultOf(reply, RemoteError)
        self.assertEqual(
            str(failure.value),
            "CreateInstanceRequest failed: no room for 4 cores",
        )
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_disconnect_fails_waiting_requests(self):
        """Requests to a peer that disconnects fail with PeerDisconnected."""
        both = SessionPair()
        both.core.handle(CreateInstanceRequest, lambda *_: Deferred())
        reply = both.cell.request(
            both.to_core, CreateInstanceRequest(name="a"), timeout=60
        )
        both.run(1)
        both.pair.network.detach(("10.213.0.2", 5600))
        both.run(16)
        failure = self.failureResultOf(reply, PeerDisconnected)
        self.assertIn("B disconnected", str(failure.value))

    def test_one_way_message_reaches_handler(self):
        """One-way messages reach their handler."""
        both = SessionPair()
        reports = []
        both.core.handle(
            CellStatusReport, lambda peer, report: reports.append(report)
        )
        both.cell.send(both.to_core, CellStatusReport(load=0.5))
        both.run(1)
        self.assertEqual(reports, [CellStatusReport(load=0.5)])


class MalformedMessageTests(SynchronousTestCase):
    """Messages that cannot be decoded get an ErrorReply."""

    def setUp(self):
        self.both = SessionPair()
        self.both.pair.a.observer = Recorder()
        self.replies = self.both.pair.a.observer.messages

    def decoded_replies(self):
        return [registry.decode(message) for message in self.replies]

    def test_invalid_json_gets_error_reply(self):
        """Bytes that are not JSON get an ErrorReply."""
        self.both.to_core.send(b"{not json")
        self.both.run(1)
        ((reply, envelope),) = self.decoded_replies()
        self.assertIsInstance(reply, ErrorReply)
        self.assertTrue(reply.error.startswith("invalid JSON"))
        self.assertEqual(envelope, {})

    def test_unknown_type_reply_names_the_type(self):
        """
        An unknown type gets an ErrorReply naming it, routed to the session.
        """
        self.both.to_core.send(b'{"type": "Frobnicate", "from_session": 7}')
        self.both.run(1)
        ((reply, envelope),) = self.decoded_replies()
        self.assertEqual(reply.error, "unknown message type 'Frobnicate'")
        self.assertEqual(envelope, {"to_session": 7})

    def test_missing_field_reply_names_the_field(self):
        """A missing field gets an ErrorReply naming it."""
        self.both.to_core.send(
            b'{"type": "CreateInstanceRequest", "from_session": 3}'
        )
        self.both.run(1)
        ((reply, _),) = self.decoded_replies()
        self.assertEqual(
            reply.error,
            "invalid CreateInstanceRequest: missing field(s) name",
        )


def test_unknown_fields_are_ignored():
    """Fields a message type does not declare are ignored."""
    message, envelope = registry.decode(
        b'{"type": "CreateInstanceRequest", "name": "vm", "color": "red",'
        b' "from_session": 4}'
    )
    assert message == CreateInstanceRequest(name="vm")
    assert envelope == {"from_session": 4}


def test_encode_round_trip():
    """A message and its session fields survive encoding and decoding."""
    data = registry.encode(
        CreateInstanceRequest(name="vm", cores=2), from_session=9
    )
    assert registry.decode(data) == (
        CreateInstanceRequest(name="vm", cores=2),
        {"from_session": 9},
    )


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"[1, 2]", "a message must be a JSON object, not list"),
        (b'{"name": "x"}', "unknown message type None"),
        (b'{"type": 5}', "unknown message type 5"),
    ],
)
def test_decode_errors_name_the_problem(data, error):
    """Each decoding error names what is wrong."""
    with pytest.raises(MessageError) as caught:
        registry.decode(data)
    assert str(caught.value) == error


def test_reserved_field_names_rejected():
    """A message type cannot use the session field names."""
    with pytest.raises(ValueError, match="from_session"):

        @MessageRegistry().message("Bad")
        @attrs.frozen
        class Bad:
            from_session: int


class ClosedPeerTests(SynchronousTestCase):
    """Requests and replies around a closed connection."""

    def test_request_to_closed_peer_fails(self):
        """A request to a closed peer fails at once and leaves no timer."""
        both = SessionPair()
        both.to_core.close()
        reply = both.cell.request(
            both.to_core, CreateInstanceRequest(name="a")
        )
        self.failureResultOf(reply, PeerClosed)
        both.run(20)
        self.assertEqual(both.cell._waiting, {})

    def test_late_reply_to_closed_peer_is_dropped(self):
        """A reply finished after the peer closed is logged, not raised."""
        both = SessionPair()
        later = Deferred()
        both.core.handle(CreateInstanceRequest, lambda *_: later)
        reply = both.cell.request(
            both.to_core, CreateInstanceRequest(name="a")
        )
        both.run(1)
        both.to_cell.close()
        both.run(2)
        with capturedLogs() as events:
            later.callback(CreateInstanceResponse(instance_id="too late"))
        both.run(1)
        self.failureResultOf(reply, PeerDisconnected)
        self.assertEqual(
            [formatEvent(event) for event in events],
            [
                "Dropped a CreateInstanceResponse for A: the connection "
                "closed first"
            ],
        )


class BadHandlerTests(SynchronousTestCase):
    """Handlers that return something other than a reply message."""

    def test_handler_returning_nothing_fails_request(self):
        """A request whose handler returns None fails with RemoteError."""
        both = SessionPair()
        both.core.handle(CreateInstanceRequest, lambda *_: None)
        reply = both.cell.request(
            both.to_core, CreateInstanceRequest(name="a")
        )
        both.run(1)
        failure = self.failureResultOf(reply, RemoteError)
        self.assertEqual(
            str(failure.value), "CreateInstanceRequest got no reply"
        )

    def test_handler_returning_unregistered_object(self):
        """An object of no registered type is not sent; the caller is told."""
        both = SessionPair()
        both.core.handle(CreateInstanceRequest, lambda *_: {"id": "x"})
        reply = both.cell.request(
            both.to_core, CreateInstanceRequest(name="a")
        )
        both.run(1)
        self.failureResultOf(reply, RemoteError)
