"""
A check that a request's host name, URL path and query decode as
UTF-8, in front of the Klein application.

Klein replies to a host or path that is not UTF-8 with a plain-text 400
of its own, and handlers decode query arguments themselves. Checking
them once, before routing, gives every route the same JSON error
envelope.
"""

from urllib.parse import quote_from_bytes

from twisted.web.resource import Resource

from ._envelope import bad_request, error_body, json_reply


class Utf8Resource(Resource):
    """
    Serve ``wrapped`` (a leaf resource) only for requests whose host
    name, path segments and query arguments are UTF-8 text once
    percent-decoded.
    """

    isLeaf = True

    def __init__(self, wrapped: Resource):
        super().__init__()
        self._wrapped = wrapped

    def render(self, request):
        """Reply 400 naming the first value that is not UTF-8."""
        message = invalid_url_part(request)
        if message is None:
            return self._wrapped.render(request)
        error = bad_request(message)
        return json_reply(request, error.status, error_body(error))


def invalid_url_part(request) -> str | None:
    """
    Return an error message naming the host name, the first path
    segment or the first query argument of ``request`` that is not
    UTF-8, or ``None``.
    """
    host = request.getRequestHostname()
    if not _is_utf8(host):
        return (
            f"invalid Host header {_escaped(host)}: it must be UTF-8 "
            "text, such as Core's address and port"
        )
    for segment in request.postpath:
        if not _is_utf8(segment):
            return (
                f"invalid URL path segment {_escaped(segment)}: its "
                "percent-escapes must encode UTF-8 text"
            )
    for key, values in (request.args or {}).items():
        name = key.decode("utf-8", errors="replace")
        if not _is_utf8(key):
            return (
                f"invalid query parameter name {_escaped(key)}: its "
                "percent-escapes must encode UTF-8 text"
            )
        for value in values:
            if not _is_utf8(value):
                return (
                    f"invalid query parameter {name}={_escaped(value)}: "
                    "its percent-escapes must encode UTF-8 text"
                )
    return None


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _escaped(value: bytes) -> str:
    """Return ``value`` percent-encoded, as a client would send it."""
    return quote_from_bytes(value, safe="")
