"""BodyToFile and BodySnippet with a fake transport and a fake clock."""

import errno
import io

from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import ResponseDone

from nano.tls import ImageFetchError
from nano.tls._receiver import BodySnippet, BodyToFile

URL = "https://10.213.0.1:5871/images/disk/img-1"


class FakeTransport:
    """A body transport that records stopProducing()."""

    def __init__(self):
        self.stopped = False

    def stopProducing(self):
        self.stopped = True


class FullDisk(io.RawIOBase):
    """A file whose writes fail as on a full disk."""

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")


class BodyToFileTests(SynchronousTestCase):
    """Writing, hashing, and stopping a response body."""

    def connect(self, file, size=10):
        """Return a receiver of ``size`` bytes writing to ``file``, its
        transport and its clock."""
        clock = Clock()
        receiver = BodyToFile(clock, file, URL, size, 30.0)
        transport = FakeTransport()
        receiver.makeConnection(transport)
        return receiver, transport, clock

    def test_complete_body(self):
        """A complete body is written, and its length and hash reported."""
        file = io.BytesIO()
        receiver, _, _ = self.connect(file)
        receiver.dataReceived(b"01234")
        receiver.dataReceived(b"56789")
        receiver.connectionLost(Failure(ResponseDone()))

        received, sha256 = self.successResultOf(receiver.finished)
        self.assertEqual(received, 10)
        self.assertEqual(
            sha256,
            "84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882",
        )
        self.assertEqual(file.getvalue(), b"0123456789")

    def test_write_error(self):
        """A failed write (a full disk) stops the transfer, naming the
        error."""
        receiver, transport, _ = self.connect(FullDisk())
        receiver.dataReceived(b"01234")
        receiver.connectionLost(Failure(ResponseDone()))

        failure = self.failureResultOf(receiver.finished, ImageFetchError)
        self.assertEqual(
            str(failure.value), f"{URL}: cannot write: No space left on device"
        )
        self.assertTrue(transport.stopped)

    def test_idle_timeout(self):
        """No data for the idle time stops the transfer; data resets the
        timer."""
        receiver, transport, clock = self.connect(io.BytesIO())
        clock.advance(20)
        receiver.dataReceived(b"0123")
        clock.advance(20)
        self.assertFalse(transport.stopped)

        clock.advance(10)
        self.assertTrue(transport.stopped)
        receiver.connectionLost(Failure(ResponseDone()))
        failure = self.failureResultOf(receiver.finished, ImageFetchError)
        self.assertEqual(
            str(failure.value),
            f"{URL}: timed out: no data for 30 s after 4 of 10 bytes",
        )

    def test_data_after_stop_ignored(self):
        """Data arriving after the transfer was stopped is not written."""
        file = io.BytesIO()
        receiver, _, _ = self.connect(file, size=4)
        receiver.dataReceived(b"01234")
        receiver.dataReceived(b"56")
        receiver.connectionLost(Failure(ResponseDone()))

        self.assertEqual(file.getvalue(), b"")
        failure = self.failureResultOf(receiver.finished, ImageFetchError)
        self.assertIn("sent more than", str(failure.value))

    def test_timer_cancelled_at_end(self):
        """A finished body leaves no timer behind."""
        receiver, _, clock = self.connect(io.BytesIO(), size=0)
        receiver.connectionLost(Failure(ResponseDone()))
        self.assertEqual(clock.getDelayedCalls(), [])


class BodySnippetTests(SynchronousTestCase):
    """The start of an error body, for the error message."""

    def test_snippet_cut(self):
        """Only the first 200 bytes are kept, with whitespace joined."""
        snippet = BodySnippet()
        transport = FakeTransport()
        snippet.makeConnection(transport)
        snippet.dataReceived(b"disk\n  full " + b"x" * 300)

        self.assertTrue(transport.stopped)
        snippet.connectionLost(Failure(ResponseDone()))
        text = self.successResultOf(snippet.finished)
        self.assertEqual(text, "disk full " + "x" * 188)

    def test_snippet_cancel(self):
        """Cancelling returns the text so far and stops the transfer."""
        snippet = BodySnippet()
        transport = FakeTransport()
        snippet.makeConnection(transport)
        snippet.dataReceived(b"partial")

        snippet.finished.cancel()
        self.assertEqual(self.successResultOf(snippet.finished), "partial")
        self.assertTrue(transport.stopped)
        snippet.connectionLost(Failure(ResponseDone()))
