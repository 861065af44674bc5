"""
The body of an upload request, written to a partial file as it arrives.

twisted.web collects a request body in ``request.content`` before it
calls the resource. For an upload, :class:`UploadBody` takes that place:
a raw body (``application/octet-stream``) goes to the partial file as it
is, and a ``multipart/form-data`` body goes through a streaming parser,
which writes only the file field. No body is held in memory, and
twisted.web's own parsing of forms into ``request.args`` is turned off
for these requests.
"""

import enum
from pathlib import Path

import multipart

#: The form fields that carry the file: Nano 1.x clients send ``image``.
FILE_FIELDS = ("image", "file")


class InvalidUpload(ValueError):
    """The request body is not an upload that Core accepts, as the
    message explains."""


class UploadWriteError(OSError):
    """The partial file could not be written, as the message explains."""


class _State(enum.Enum):
    RECEIVING = "receiving"
    FAILED = "failed"
    RECEIVED = "received"
    ABORTED = "aborted"


class UploadBody:
    """
    The file-like ``request.content`` of one upload request.

    :ivar received: bytes of request body received so far.
    :ivar length: the body's ``Content-Length``, or ``None``.
    :ivar error: the ``OSError`` of a failed write, or ``None``.
    """

    def __init__(self, path: Path, content_type, length, on_abort):
        """
        :param path: the partial file to create.
        :param content_type: the request's ``Content-Type`` (bytes), or
            ``None``.
        :param on_abort: called with this body when the connection is
            lost before the body is complete.
        """
        self.path = path
        self.length = length
        self.received = 0
        self.error = None
        self._on_abort = on_abort
        self._state = _State.RECEIVING
        self._form = _form_parser(content_type)
        # The file stays open across write() calls until end() or close().
        self._file = open(path, "xb")  # noqa: SIM115

    def write(self, data: bytes) -> None:
        """Store the next chunk of the request body."""
        # NOTE: this buffered write runs on the reactor thread, as
        # twisted.web's own spooling of large bodies does. The hash,
        # checks and sync run in a thread once the body is complete.
        self.received += len(data)
        if self._state is _State.FAILED:
            return
        try:
            if self._form is None:
                self._file.write(data)
            else:
                self._form.feed(data, self._file.write)
        except OSError as error:
            self._fail(error)

    def _fail(self, error: OSError) -> None:
        """
        Remove the partial file after a failed write, and drop the rest
        of the body, so that the client still gets a reply.
        """
        self._state = _State.FAILED
        self.error = error
        self._file.close()
        self.path.unlink(missing_ok=True)

    def tell(self) -> int:
        """Return how many bytes of body were received."""
        return self.received

    def seek(self, offset, whence=0) -> None:
        """Do nothing: the body is not read back through this object."""

    def read(self, size=-1) -> bytes:
        """Return nothing, so that a handler reading the body gets none."""
        return b""

    def end(self) -> None:
        """
        Close the partial file once the whole body is received.

        :raises InvalidUpload: a form has no file field, is cut short,
            or is malformed.
        :raises UploadWriteError: a write to the partial file failed.
        """
        if self._state is _State.FAILED:
            self._state = _State.RECEIVED
            raise UploadWriteError(self.error.errno, self.error.strerror)
        self._state = _State.RECEIVED
        self._file.close()
        if self._form is not None:
            self._form.end()

    def close(self) -> None:
        """
        Abort the upload if the body is still arriving: twisted.web calls
        this when the connection is lost, and once a request is done.
        """
        if self._state not in (_State.RECEIVING, _State.FAILED):
            return
        self._state = _State.ABORTED
        self._file.close()
        self.path.unlink(missing_ok=True)
        self._on_abort(self)


class _FormParser:
    """Pass the file field of a ``multipart/form-data`` body to a writer."""

    def __init__(self, boundary: str):
        self._parser = multipart.PushMultipartParser(boundary)
        self._in_file = False
        self._files = 0
        self._error = None

    def feed(self, data: bytes, write) -> None:
        if self._error is not None:
            return
        try:
            for event in self._parser.parse(data):
                self._handle(event, write)
        except multipart.MultipartError as error:
            self._error = f"invalid multipart/form-data body: {error}"

    def _handle(self, event, write) -> None:
        if isinstance(event, multipart.MultipartSegment):
            self._in_file = event.name in FILE_FIELDS
            self._files += self._in_file
        elif event is None:
            self._in_file = False
        elif self._in_file and self._files == 1:
            write(event)

    def end(self) -> None:
        if self._error is None:
            try:
                self._parser.close()
            except multipart.MultipartError as error:
                self._error = (
                    f"invalid multipart/form-data body: {error}; the form "
                    "was cut short or is malformed"
                )
        if self._error is not None:
            raise InvalidUpload(self._error)
        if self._files != 1:
            raise InvalidUpload(
                f"invalid form: expected one file field named "
                f"{' or '.join(FILE_FIELDS)}, found {self._files}"
            )


def _form_parser(content_type) -> _FormParser | None:
    """
    Return a parser for a form body, or ``None`` for a raw body.

    :raises InvalidUpload: a form's content type has no boundary.
    """
    if content_type is None:
        return None
    media_type, options = multipart.parse_options_header(
        content_type.decode("latin-1")
    )
    if media_type != "multipart/form-data":
        return None
    boundary = options.get("boundary")
    if not boundary:
        raise InvalidUpload(
            "invalid Content-Type multipart/form-data: missing boundary"
        )
    return _FormParser(boundary)
