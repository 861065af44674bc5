"""A small HTTPS image server for the download tests, on 127.0.0.1."""

import hashlib
import os

from twisted.internet import reactor
from twisted.protocols.basic import FileSender
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from nano.tls import ClusterCA, image_token, server_options

SECRET = bytes.fromhex("5a" * 32)


class ImageResource(Resource):
    """
    Serve files under ``/images/<kind>/<id>`` to requests with the right
    token, in one of several ways chosen by :attr:`mode`:

    - ``"file"``: like a real server, streamed from disk with
      Content-Length;
    - ``"chunked"``: all at once, chunked (no Content-Length);
    - ``"stall"``: half the file, then nothing;
    - ``"cut"``: half the file, then a reset of the connection;
    - ``"silent"``: no response at all;
    - ``"broken"``: status 500 and the start of a message, then nothing.
    """

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.files = {}
        self.tokens = {}
        self.mode = "file"
        self.open_requests = []

    def add(self, kind, image_id, path):
        """Serve ``path`` as image ``kind/image_id``; return its token."""
        name = f"{kind}/{image_id}"
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        self.files[name] = path
        self.tokens[name] = image_token(SECRET, kind, image_id, sha256)
        return self.tokens[name]

    def render_GET(self, request):
        name = request.path.decode().removeprefix("/images/")
        if name not in self.files:
            request.setResponseCode(404)
            return b"no such image\n"
        expected = f"Nano-Image {self.tokens[name]}".encode()
        if request.getHeader(b"authorization") != expected:
            request.setResponseCode(401)
            return b"invalid image token\n"
        return getattr(self, f"_render_{self.mode}")(request, self.files[name])

    def _render_file(self, request, path):
        file = path.open("rb")
        request.setHeader(b"content-length", str(path.stat().st_size))
        sending = FileSender().beginFileTransfer(file, request)
        sending.addBoth(lambda _: file.close())
        sending.addCallback(lambda _: request.finish())
        return NOT_DONE_YET

    def _render_chunked(self, request, path):
        request.write(path.read_bytes())
        request.finish()
        return NOT_DONE_YET

    def _render_stall(self, request, path):
        data = path.read_bytes()
        request.setHeader(b"content-length", str(len(data)).encode())
        request.write(data[: len(data) // 2])
        self.open_requests.append(request)
        return NOT_DONE_YET

    def _render_cut(self, request, path):
        data = path.read_bytes()
        request.setHeader(b"content-length", str(len(data)).encode())
        request.write(data[: len(data) // 2])
        # loseConnection() left this TLS connection open for the client's
        # whole 60 s idle time when tried, so reset the TCP connection,
        # once the data is likely to have arrived.
        reactor.callLater(0.2, request.transport.abortConnection)
        return NOT_DONE_YET

    def _render_broken(self, request, path):
        request.setResponseCode(500)
        request.setHeader(b"content-length", b"1000")
        request.write(b"disk  full\n")
        self.open_requests.append(request)
        return NOT_DONE_YET

    def _render_silent(self, request, path):
        self.open_requests.append(request)
        return NOT_DONE_YET


class ImageServer:
    """
    An HTTPS server on 127.0.0.1 with a certificate from its own CA.

    :ivar ca: the server's :class:`ClusterCA`.
    :ivar resource: the :class:`ImageResource` it serves.
    :ivar port: the TCP port it listens on.
    """

    def __init__(self, directory, names=(), addresses=("127.0.0.1",)):
        self.ca = ClusterCA.load_or_create(directory / "ca")
        self.resource = ImageResource()
        options = server_options(
            *self.ca.issue_server(list(names), list(addresses))
        )
        self._listening = reactor.listenSSL(
            0, Site(self.resource), options, interface="127.0.0.1"
        )
        self.port = self._listening.getHost().port

    def reference(self, kind, image_id, path, **changes):
        """Return an image reference to ``path`` served as ``kind``."""
        data = path.read_bytes()
        token = self.resource.add(kind, image_id, path)
        reference = {
            "id": image_id,
            "kind": kind,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "port": self.port,
            "ca_certificate": self.ca.certificate_pem.decode(),
            "token": token,
        }
        reference.update(changes)
        return reference

    def stop(self):
        """Drop open requests and stop listening."""
        for request in self.resource.open_requests:
            request.transport.abortConnection()
        return self._listening.stopListening()


def random_file(path, size):
    """Write ``size`` random bytes to ``path`` and return ``path``."""
    with open(path, "wb") as file:
        remaining = size
        while remaining:
            chunk = min(remaining, 1024 * 1024)
            file.write(os.urandom(chunk))
            remaining -= chunk
    return path
