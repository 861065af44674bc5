"""
The HTTP request class of Core's API server, which streams image
uploads to the image store instead of collecting them in memory or in a
temporary file.

twisted.web calls :meth:`~twisted.web.http.Request.gotLength` once a
request's headers are in, before its body. For ``POST
/api/v1/{disk,media}_images/<id>/file/`` the request checks the
signature there, because uploads are signed with an empty body, and
gets from the store an upload body to write into. A rejected upload's body is
read and dropped, and the route replies with the error.
"""

import io
import re

from twisted.web.server import Request, Site

from ..images import ImageError
from ._app import MAX_BODY, PREFIX, body_too_large
from ._auth import authenticate
from ._envelope import ApiError

_UPLOAD_PATH = re.compile(
    re.escape(PREFIX).encode() + rb"/(disk|media)_images/([^/]+)/file/?"
)


class RejectedBody:
    """
    The ``request.content`` of an upload that was rejected before its
    body arrived: it counts and drops the body.

    :ivar error: the :class:`ApiError` to reply with.
    :ivar rejection: the same error, under the name that
        :func:`~nano.core.api._app.read_body` checks.
    """

    def __init__(self, error: ApiError):
        self.error = error
        self.rejection = error
        self.received = 0

    def write(self, data: bytes) -> None:
        """Drop a chunk of the body."""
        self.received += len(data)

    def tell(self) -> int:
        """Return how many bytes of body were dropped."""
        return self.received

    def seek(self, offset, whence=0) -> None:
        """Do nothing: there is nothing to read back."""

    def read(self, size=-1) -> bytes:
        """Return nothing."""
        return b""

    def close(self) -> None:
        """Do nothing."""


class CappedBody(io.BytesIO):
    """
    The ``request.content`` of a JSON request without ``Content-Length``
    (chunked): it keeps one byte over :data:`MAX_BODY` at most, so that
    :func:`~nano.core.api._app.read_body` rejects a longer body without
    holding it.
    """

    def write(self, data: bytes) -> int:
        """Keep the part of ``data`` that fits under the cap."""
        room = MAX_BODY + 1 - self.tell()
        return super().write(data[: max(room, 0)])


def upload_path(method: bytes, uri: bytes):
    """
    Return ``(kind, image_id)`` for an upload request, or ``None``.
    """
    if method != b"POST":
        return None
    path = uri.partition(b"?")[0]
    match = _UPLOAD_PATH.fullmatch(path)
    if match is None:
        return None
    kind, image_id = match.groups()
    return kind.decode(), image_id.decode("latin-1")


def upload_request_factory(api):
    """
    Return a request class that streams uploads into ``api.images``
    (a :class:`~nano.core.images.Images`), checking signatures with the
    credentials of ``api`` (a :class:`CoreAPI`).
    """

    class UploadRequest(Request):
        def gotLength(self, length):
            channel = self.channel
            # NOTE: until requestReceived copies them to the request, the
            # method and path are private attributes of the channel. The
            # upload tests fail if a Twisted release renames them.
            route = upload_path(channel._command, channel._path)
            if route is None and length is not None and length > MAX_BODY:
                self.content = RejectedBody(body_too_large(length))
                return
            if route is None and length is None:
                self.content = CappedBody()
                return
            if route is None:
                super().gotLength(length)
                return
            self.method, self.uri = channel._command, channel._path
            self.path = self.uri.partition(b"?")[0]
            self._parsePOSTFormSubmission = False
            self.content = _receive(api, self, route, length)

    return UploadRequest


def _receive(api, request, route, length):
    kind, image_id = route
    try:
        authenticate(request, b"", api._credentials, api.clock, streamed=True)
        content_type = request.getHeader(b"content-type")
        return api.images.begin_upload(kind, image_id, content_type, length)
    except ApiError as error:
        return RejectedBody(error)
    except ImageError as error:
        return RejectedBody(ApiError(error.status, str(error)))
    except OSError as error:
        api.log.failure(
            "Could not start the upload of {kind} image {id}",
            kind=kind,
            id=image_id,
        )
        return RejectedBody(
            ApiError(503, f"could not store the upload: {error.strerror}")
        )


def api_site(api) -> Site:
    """Return the HTTP site of ``api``, streaming image uploads."""
    site = Site(api.resource(), reactor=api.clock)
    site.displayTracebacks = False
    site.requestFactory = upload_request_factory(api)
    return site
