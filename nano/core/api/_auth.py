"""Check Nano v1 request signatures on Twisted requests."""

from datetime import UTC, datetime

from nano.signing import Request, SignatureError, verify

from ._envelope import ApiError


def signed_request(request, body: bytes) -> Request:
    """Return the parts of a Twisted request that its signature covers."""
    _, _, query = request.uri.partition(b"?")
    headers = {
        name.decode("latin-1").lower(): values[0].decode("latin-1")
        for name, values in request.requestHeaders.getAllRawHeaders()
    }
    return Request(
        method=request.method.decode("ascii"),
        path=request.path.decode("latin-1"),
        query=query.decode("latin-1"),
        headers=headers,
        body=body,
    )


def authenticate(
    request, body: bytes, credentials, clock, streamed: bool = False
) -> str:
    """
    Verify a request's signature against the server's clock.

    :param credentials: API key by API id.
    :param streamed: the request is a streamed upload, signed with an
        empty body (see :func:`nano.signing.sign`).
    :return: the API id that signed the request.
    :raises ApiError: 401, with the reason the signature was rejected.
    """
    now = datetime.fromtimestamp(clock.seconds(), UTC)
    try:
        return verify(
            signed_request(request, body),
            credentials,
            now,
            streamed=streamed,
        )
    except SignatureError as error:
        raise ApiError(401, str(error)) from None
