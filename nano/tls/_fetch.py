"""Download an image from Core's image service over verified HTTPS."""

import contextlib
import os
from pathlib import Path

from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet import defer, error
from twisted.internet.threads import deferToThreadPool
from twisted.web.client import Agent, ResponseFailed
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IPolicyForHTTPS
from zope.interface import implementer

from nano.durable import fsync_directory

from ._options import client_options
from ._receiver import BodySnippet, BodyToFile
from ._reference import ImageFetchError, check_host, parse_reference

#: Default seconds without progress (connecting, waiting for the response
#: or for body data) before a download fails.
IDLE_TIMEOUT = 60.0

#: Write buffer of the partial file, in bytes.
WRITE_BUFFER = 1024 * 1024


@implementer(IPolicyForHTTPS)
class _TrustClusterCA:
    """Trust only the cluster CA, and check the name of every server."""

    def __init__(self, ca_certificate: bytes):
        self._ca_certificate = ca_certificate

    def creatorForNetloc(self, hostname, port):
        return client_options(hostname.decode("ascii"), self._ca_certificate)


def fetch_image(
    reactor,
    host: str,
    reference: dict,
    destination: Path,
    progress=None,
    idle_timeout: float = IDLE_TIMEOUT,
):
    """
    Download the image ``reference`` names from Core's image service on
    ``host`` to ``destination``.

    The body is streamed to ``<destination>.partial``, which is synced,
    checked against the reference's size and SHA-256 and then renamed to
    ``destination``. On failure the partial file is removed.  Callers
    must not run two downloads to one destination at the same time.

    :param reactor: provides ``IReactorTCP``, ``IReactorTime`` and
        ``IReactorThreads`` (the final sync runs in its thread pool).
    :param host: Core's IP address (or DNS name) as this Cell reaches it;
        the server's certificate must name it.
    :param reference: the image reference from Core's message.
    :param progress: called with ``(received bytes, total bytes)`` as data
        arrives, or ``None``.
    :param idle_timeout: seconds without progress before the download
        fails.
    :return: a Deferred that fires with ``destination``, or fails with
        :class:`ImageFetchError`.
    """
    try:
        image = parse_reference(reference)
        url = image.url(check_host(host))
    except ImageFetchError:
        return defer.fail()
    download = _Download(reactor, image, url, Path(destination), idle_timeout)
    return download.run(progress)


class _Download:
    """One download: request, body to the partial file, check, rename."""

    def __init__(self, reactor, image, url, destination, idle_timeout):
        self._reactor = reactor
        self._image = image
        self._url = url
        self._destination = destination
        self._partial = destination.with_name(destination.name + ".partial")
        self._idle_timeout = idle_timeout
        self._file = None
        self._timed_out = False

    def run(self, progress):
        agent = Agent(
            self._reactor,
            contextFactory=_TrustClusterCA(self._image.ca_certificate),
            connectTimeout=self._idle_timeout,
        )
        requested = agent.request(
            b"GET",
            self._url.encode("ascii"),
            Headers({b"Authorization": [f"Nano-Image {self._image.token}"]}),
        )
        timer = self._reactor.callLater(
            self._idle_timeout, self._time_out, requested
        )
        requested.addBoth(_cancel_timer, timer)
        requested.addCallback(self._receive, progress)
        requested.addCallback(self._check)
        requested.addCallback(lambda _: self._store())
        requested.addErrback(self._fail)
        return requested

    def _time_out(self, requested):
        self._timed_out = True
        requested.cancel()

    def _receive(self, response, progress):
        if response.code != 200:
            return self._reject(response)
        if response.length not in (UNKNOWN_LENGTH, self._image.size):
            response.deliverBody(BodySnippet())
            raise ImageFetchError(
                f"{self._url}: size mismatch: the server's Content-Length is "
                f"{response.length}, the image reference's size is "
                f"{self._image.size}"
            )
        self._open()
        receiver = BodyToFile(
            self._reactor,
            self._file,
            self._url,
            self._image.size,
            self._idle_timeout,
            progress,
        )
        response.deliverBody(receiver)
        return receiver.finished

    def _reject(self, response):
        snippet = BodySnippet()
        response.deliverBody(snippet)
        snippet.finished.addTimeout(self._idle_timeout, self._reactor)

        def describe(text):
            raise ImageFetchError(_status_message(self._url, response, text))

        return snippet.finished.addCallback(describe)

    def _open(self):
        try:
            # The file stays open across callbacks: _fail closes it.
            self._file = open(  # noqa: SIM115
                self._partial, "wb", buffering=WRITE_BUFFER
            )
        except OSError as failure:
            raise ImageFetchError(
                f"{self._url}: cannot write {self._partial}: "
                f"{failure.strerror}"
            ) from None

    def _check(self, result):
        received, sha256 = result
        if received != self._image.size:
            raise ImageFetchError(
                f"{self._url}: size mismatch: received {received} bytes, "
                f"the image reference's size is {self._image.size}"
            )
        if sha256 != self._image.sha256:
            raise ImageFetchError(
                f"{self._url}: checksum mismatch: SHA-256 of the received "
                f"data is {sha256}, the image reference's is "
                f"{self._image.sha256}"
            )

    def _store(self):
        pool = self._reactor.getThreadPool()
        return deferToThreadPool(self._reactor, pool, self._sync_and_rename)

    def _sync_and_rename(self):
        try:
            self._file.flush()
            os.fdatasync(self._file.fileno())
            self._file.close()
            os.replace(self._partial, self._destination)
            fsync_directory(self._destination.parent)
        except OSError as failure:
            raise ImageFetchError(
                f"{self._url}: cannot store {self._destination}: "
                f"{failure.strerror}"
            ) from None
        return self._destination

    def _fail(self, failure):
        if self._file is not None:
            self._file.close()
            with contextlib.suppress(FileNotFoundError):
                self._partial.unlink()
        if failure.check(ImageFetchError):
            return failure
        if self._timed_out:
            reason = f"timed out: no response within {self._idle_timeout:g} s"
        else:
            reason = _describe(failure)
        raise ImageFetchError(f"{self._url}: {reason}") from failure.value


def _cancel_timer(result, timer):
    if timer.active():
        timer.cancel()
    return result


def _status_message(url, response, text):
    status = f"{url}: HTTP {response.code} {response.phrase.decode()}"
    if response.code == 401:
        status += (
            ": the image token was rejected, so check that this host's "
            "cluster secret matches Core's"
        )
    return f"{status}: {text}" if text else status


def _describe(failure) -> str:
    if failure.check(defer.CancelledError):
        return "cancelled"
    if failure.check(ResponseFailed):
        return _describe_reasons(failure.value.reasons)
    return _describe_error(failure.value)


def _describe_reasons(reasons) -> str:
    for reason in reasons:
        if reason.check(SSL.Error, VerificationError):
            return _describe_error(reason.value)
    return "; ".join(_describe_error(reason.value) for reason in reasons)


def _describe_error(value) -> str:
    if isinstance(value, VerificationError):
        return (
            "TLS verification failed: the server's certificate does not "
            f"name this host ({value})"
        )
    if isinstance(value, SSL.Error):
        return _describe_ssl(value)
    if isinstance(value, error.ConnectionRefusedError):
        return "connection refused: is Core's image service running?"
    if isinstance(value, error.ConnectionDone | error.ConnectionLost):
        return "the server closed the connection"
    if isinstance(value, error.TimeoutError):
        return "timed out while connecting"
    return f"{type(value).__name__}: {value}"


def _describe_ssl(value: SSL.Error) -> str:
    reasons = [str(entry[-1]) for entry in value.args[0] if entry]
    if "certificate verify failed" in reasons:
        return (
            "TLS verification failed: the server's certificate is not "
            "signed by the CA in the image reference"
        )
    return f"TLS handshake failed: {', '.join(reasons) or value}"
