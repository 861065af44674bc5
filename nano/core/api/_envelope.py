"""
The Nano v1 response envelope: ``{"error_code", "message", "data"}``.

A success has ``error_code`` 0 and an empty message. A failure has the
HTTP status as its ``error_code`` (Nano 1.x clients only test for a
non-zero code) and ``data`` ``{}``, as Nano 1.x sends.
"""

import orjson

CONTENT_TYPE = b"application/json"
_EMPTY = {}


class ApiError(Exception):
    """
    A request that cannot be served: the reply has ``status`` and a
    message saying what was wrong and what is accepted.
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    """Return a 400 error: the request's content is invalid."""
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    """Return a 404 error: the route or the resource does not exist."""
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    """Return a 409 error: the change conflicts with the current state."""
    return ApiError(409, message)


def success_body(data) -> bytes:
    """Return the envelope of a successful reply carrying ``data``."""
    return orjson.dumps({"error_code": 0, "message": "", "data": data})


def error_body(error: ApiError) -> bytes:
    """Return the envelope of a failed reply."""
    return orjson.dumps(
        {"error_code": error.status, "message": error.message, "data": _EMPTY}
    )


def json_reply(request, status: int, body: bytes) -> bytes:
    """
    Set a reply's status, JSON content type and length, and return its
    body.
    """
    request.setResponseCode(status)
    headers = request.responseHeaders
    headers.setRawHeaders(b"content-type", [CONTENT_TYPE])
    headers.setRawHeaders(b"content-length", [b"%d" % len(body)])
    return body
