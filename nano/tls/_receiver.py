"""Protocols that receive HTTP response bodies for image downloads."""

import hashlib

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.web.client import ResponseDone
from twisted.web.http import PotentialDataLoss

from ._reference import ImageFetchError

#: How much of an error response's body goes into the error message.
SNIPPET_BYTES = 200


class BodyToFile(Protocol):
    """
    Write a response body to an open file as it arrives, hashing it with
    SHA-256, and stop the transfer when it stalls or grows too large.

    :ivar finished: fires with ``(bytes received, hex SHA-256)`` when the
        body is complete, or fails with the reason the transfer stopped.
    """

    log = Logger()

    def __init__(self, clock, file, url, size, idle_timeout, progress=None):
        """
        :param clock: an ``IReactorTime`` for the idle timeout.
        :param file: a binary file open for writing.
        :param url: the download URL, for error messages.
        :param size: the expected body size in bytes.
        :param idle_timeout: seconds without data before the transfer
            is stopped.
        :param progress: called with ``(received bytes, size)`` after each
            chunk is written, or ``None``.
        """
        self.finished = Deferred(self._cancel)
        self._clock = clock
        self._file = file
        self._url = url
        self._size = size
        self._idle_timeout = idle_timeout
        self._progress = progress
        self._received = 0
        self._hash = hashlib.sha256()
        self._timer = None
        self._error = None

    def connectionMade(self):
        self._timer = self._clock.callLater(self._idle_timeout, self._stall)

    def dataReceived(self, data):
        if self._error is not None:
            return
        self._received += len(data)
        if self._received > self._size:
            self._stop(
                f"{self._url}: the server sent more than the image "
                f"reference's size of {self._size} bytes"
            )
            return
        try:
            # NOTE: this write runs on the reactor thread. fetch_image's
            # file has a 1 MiB buffer in front of the page cache, so the
            # write waits for the disk mainly when the kernel throttles
            # writers that have too many dirty pages.
            self._file.write(data)
        except OSError as error:
            self._stop(f"{self._url}: cannot write: {error.strerror}")
            return
        self._hash.update(data)
        self._timer.reset(self._idle_timeout)
        self._report()

    def connectionLost(self, reason=None):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if self.finished.called:
            return
        if self._error is not None:
            self.finished.errback(self._error)
        elif reason.check(ResponseDone, PotentialDataLoss):
            self.finished.callback((self._received, self._hash.hexdigest()))
        else:
            self.finished.errback(
                ImageFetchError(
                    f"{self._url}: the connection closed after "
                    f"{self._received} of {self._size} bytes"
                )
            )

    def _stall(self):
        self._stop(
            f"{self._url}: timed out: no data for {self._idle_timeout:g} s "
            f"after {self._received} of {self._size} bytes"
        )

    def _stop(self, message):
        self._error = ImageFetchError(message)
        self.transport.stopProducing()

    def _cancel(self, finished):
        # The Deferred fails with CancelledError once this returns, and no
        # later data is written: the caller may close the file at once.
        self._error = CancelledError()
        self.transport.stopProducing()

    def _report(self):
        if self._progress is None:
            return
        try:
            self._progress(self._received, self._size)
        except Exception:
            # A broken progress display is no reason to stop a download.
            self.log.failure(
                "progress callback failed for {url}", url=self._url
            )


class BodySnippet(Protocol):
    """
    Keep the start of an error response's body for the error message,
    then stop the transfer.

    :ivar finished: fires with the text of at most :data:`SNIPPET_BYTES`;
        cancelling it stops the transfer and fires it with the text so
        far.
    """

    def __init__(self):
        self.finished = Deferred(self._cancel)
        self._data = b""

    def dataReceived(self, data):
        if len(self._data) < SNIPPET_BYTES:
            self._data += data[: SNIPPET_BYTES - len(self._data)]
            if len(self._data) >= SNIPPET_BYTES:
                self.transport.stopProducing()

    def connectionLost(self, reason=None):
        if not self.finished.called:
            self.finished.callback(self._text())

    def _cancel(self, finished):
        finished.callback(self._text())
        self.transport.stopProducing()

    def _text(self) -> str:
        return " ".join(self._data.decode("utf-8", "replace").split())
