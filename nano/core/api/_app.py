"""The Klein application that serves Core's REST API."""

import uuid
from collections.abc import Callable, Iterable

from klein import Klein
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from werkzeug.exceptions import MethodNotAllowed, NotFound

from nano.events import (
    Event,
    JournalClosedError,
    JournalFailedError,
    JournalWriteError,
    utc_time,
)

from .._cluster import Cluster
from .._logging import core_logger
from ._auth import authenticate
from ._envelope import (
    ApiError,
    conflict,
    error_body,
    json_reply,
    not_found,
    success_body,
)
from ._urls import Utf8Resource

PREFIX = "/api/v1"
#: The largest JSON request body, in bytes: the largest Nano v1 request
#: (a guest with its cloud-init data) is a few KiB.
MAX_BODY = 1024 * 1024
#: Errors of an append that did not reach the disk: Core could not make
#: the change, but the request was valid.
_JOURNAL_ERRORS = (JournalClosedError, JournalFailedError, JournalWriteError)


def new_id() -> str:
    """Return a new random resource id (32 hex digits)."""
    return uuid.uuid4().hex


def body_too_large(length: int | None) -> ApiError:
    """
    Return the 413 error of a request body of ``length`` bytes, or of
    more than :data:`MAX_BODY` bytes when ``length`` is ``None``.
    """
    size = f"more than {MAX_BODY}" if length is None else str(length)
    return ApiError(
        413,
        f"request body too large: {size} bytes, at most {MAX_BODY} "
        "bytes of JSON are accepted; upload image files with POST "
        f"{PREFIX}/disk_images/<id>/file/ or media_images/<id>/file/",
    )


def read_body(request) -> bytes:
    """
    Return a request's body, read up to :data:`MAX_BODY` bytes.

    :raises ApiError: the request class rejected the body before it
        arrived (413 for a ``Content-Length`` over the limit), or the
        body is over the limit.
    """
    rejected = getattr(request.content, "rejection", None)
    if rejected is not None:
        raise rejected
    body = request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise body_too_large(None)
    return body


class CoreAPI:
    """
    Core's REST API over a :class:`~nano.projections.LiveProjection`:
    handlers read ``live.current`` and record each change as an event,
    replying only once it is on disk.

    :param credentials: API key by API id.
    :param clock: an ``IReactorTime``, for signature dates, event times
        and Core's start time.
    :param make_id: returns a new template id.
    :param cluster: the :class:`~nano.core._cluster.Cluster` of connected
        Cells; a new one with no fabric session by default.
    """

    log = core_logger()

    def __init__(self, live, credentials, clock, make_id=new_id, cluster=None):
        if cluster is None:
            cluster = Cluster(live, clock)
        self.cluster = cluster
        self.live = live
        self.clock = clock
        self.make_id = make_id
        self.start_time = clock.seconds()
        self._credentials = dict(credentials)
        self._pending: set[str] = set()
        self.app = Klein()
        # Match a path with or without its trailing slash, in place of
        # werkzeug's redirect: a client that follows the redirect sends a
        # signature of the old path, which then fails with a 401.
        self.app.url_map.strict_slashes = False
        self.app.handle_errors(NotFound)(self._route_not_found)
        self.app.handle_errors(MethodNotAllowed)(self._method_not_allowed)

    def add_routes(self, routes: Iterable[tuple[str, str, Callable]]):
        """
        Serve each ``(method, path, handler)`` under ``/api/v1``, behind
        the signature check.

        A handler is called with the raw request body and the path's
        parameters, and returns the reply's ``data`` or a Deferred of it.
        """
        for method, path, handler in routes:
            self.app.route(
                PREFIX + path,
                methods=[method],
                endpoint=f"{method} {path}",
            )(self._signed(handler))

    def resource(self):
        """
        Return the API as a Twisted web resource, which rejects a path
        or query that is not UTF-8 before routing.
        """
        return Utf8Resource(self.app.resource())

    @property
    def state(self):
        """Core's current state (pools, their Cells, templates)."""
        return self.live.current.state

    def now(self):
        """Return the current time as an event time."""
        return utc_time(self.clock.seconds())

    def record(self, keys: Iterable[str], event: Event) -> Deferred:
        """
        Record ``event`` while holding ``keys``, so that no concurrent
        request changes the same resources before it is on disk.

        :param keys: names of what the change affects, such as
            ``compute pool 'a'``.
        :raises ApiError: 409, another change to one of ``keys`` is still
            being written.
        """
        keys = list(keys)
        for key in keys:
            if key in self._pending:
                raise conflict(
                    f"another change to {key} is being saved; retry when "
                    "it has finished"
                )
        self._pending.update(keys)
        recorded = self.live.record(event)
        recorded.addBoth(self._release, keys)
        return recorded

    def _release(self, result, keys):
        self._pending.difference_update(keys)
        return result

    def _signed(self, handler):
        def serve(request, **params):
            try:
                body = read_body(request)
                authenticate(request, body, self._credentials, self.clock)
                data = handler(body, **params)
            except Exception:
                return self._reply_error(Failure(), request)
            if isinstance(data, Deferred):
                return data.addCallbacks(
                    self._reply,
                    self._reply_error,
                    (request,),
                    None,
                    (request,),
                )
            # Most reads finish here, without a Deferred, which keeps
            # signed reads close to the speed of a bare Klein route.
            return self._reply(data, request)

        return serve

    def _reply(self, data, request) -> bytes:
        return json_reply(request, 200, success_body(data))

    def _reply_error(self, failure, request) -> bytes:
        if failure.check(ApiError):
            error = failure.value
            self.log.debug(
                "Rejected {method} {path}: {status} {message}",
                method=request.method.decode(),
                path=request.path.decode("latin-1"),
                status=error.status,
                message=error.message,
            )
        elif failure.check(*_JOURNAL_ERRORS):
            self.log.failure(
                "Could not record the change of {method} {path}",
                failure,
                method=request.method.decode(),
                path=request.path.decode("latin-1"),
            )
            error = ApiError(
                503,
                f"the change was not saved, because the journal failed: "
                f"{failure.value}; see Core's log",
            )
        else:
            self.log.failure(
                "Bug in {method} {path}",
                failure,
                method=request.method.decode(),
                path=request.path.decode("latin-1"),
            )
            error = ApiError(
                500, "internal error in Core; the details are in Core's log"
            )
        return json_reply(request, error.status, error_body(error))

    def _route_not_found(self, request, failure) -> bytes:
        path = request.path.decode("latin-1")
        error = not_found(
            f"route {path} not found: Core serves the Nano v1 routes "
            f"under {PREFIX}/"
        )
        return json_reply(request, 404, error_body(error))

    def _method_not_allowed(self, request, failure) -> bytes:
        allowed = ", ".join(failure.value.valid_methods or ())
        error = ApiError(
            405,
            f"method {request.method.decode()} is not allowed on "
            f"{request.path.decode('latin-1')}: use {allowed}",
        )
        request.responseHeaders.setRawHeaders(b"allow", [allowed.encode()])
        return json_reply(request, 405, error_body(error))
