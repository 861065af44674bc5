"""
Nano v1 request signatures: compatibility with Nano 1.x clients, and
every way a request is rejected.
"""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nano.signing import (
    Request,
    SignatureError,
    compute_signature,
    escape_path,
    scope_for,
    sign,
    verify,
)

NOW = datetime(2026, 12, 4, 16, 20, 5, tzinfo=UTC)
DATE = "2026-12-04T16:20:05Z"
SCOPE = "20261204/default/nano_request"
KEY = "ThisIsAKey"
CREDENTIALS = {"nano-client": KEY}

# Expected signatures computed by a Go 1.19 program that follows the Nano
# 1.x client with Go's own net/url.QueryEscape, url.Query() and
# time.RFC3339, independently of this module: they pin the escaping,
# query sorting and header order that Go clients produce.
GO_VECTORS = [
    (
        "GET",
        "/api/v1/compute_pools/",
        b"",
        {"host": "127.0.0.1:5870"},
        "host;nano-date;nano-scope",
        "0f0adf7c0617a6b60ae95da0587cbb679dd59470b45644f220473661be2fe9c8",
    ),
    (
        "POST",
        "/api/v1/guests/",
        b'{"name":"vm1","cores":2,"memory":1073741824}',
        {"host": "core.example:5870", "content-type": "application/json"},
        "host;content-type;nano-date;nano-scope",
        "60fdb328b7e8ead6806e68d64a5caba952ab712e555689fb7e3aa10aeda7aaea",
    ),
    (
        "GET",
        "/api/v1/guest_search/?pool=second&owner=a+b&group=x%2Fy"
        "&pool=first&empty=",
        b"",
        {"host": "127.0.0.1:5870", "nano-session": "s-1"},
        "host;nano-session;nano-date;nano-scope",
        "4397048157ce6f7029263a1daf44a1577430e5fcbe3caaa32b3924ef9c8b71fa",
    ),
    (
        "DELETE",
        "/api/v1/compute_pools/pool%20one~%C3%A9",
        b"",
        {"host": "h"},
        "host;nano-date;nano-scope",
        "257b1b140d199cc888a7f2afd146ac2e90ec627aecb624e1b9281e8a91455113",
    ),
]


def go_request(method, url, body, headers):
    path, _, query = url.partition("?")
    headers = {**headers, "nano-date": DATE, "nano-scope": SCOPE}
    return Request(method, path, query, headers, body)


@pytest.mark.parametrize(
    ("method", "url", "body", "headers", "names", "expected"), GO_VECTORS
)
def test_signature_matches_go_client(
    method, url, body, headers, names, expected
):
    """The signature equals what a Go Nano client computes."""
    request = go_request(method, url, body, headers)
    signature = compute_signature(request, names.split(";"), DATE, SCOPE, KEY)
    assert signature == expected


@pytest.mark.parametrize(
    ("method", "url", "body", "headers", "names", "expected"), GO_VECTORS
)
def test_verify_accepts_go_client(method, url, body, headers, names, expected):
    """A request signed by a Go Nano client is accepted."""
    request = go_request(method, url, body, headers)
    authorization = (
        f"Nano-HMAC-SHA256 Credential=nano-client/{SCOPE}, "
        f"SignedHeaders={names}, Signature={expected}"
    )
    request = Request(
        request.method,
        request.path,
        request.query,
        {**request.headers, "nano-authorization": authorization},
        request.body,
    )
    assert verify(request, CREDENTIALS, NOW) == "nano-client"


def signed(request, now=NOW, api_id="nano-client", key=KEY):
    added = {name.lower(): value for name, value in sign(
        request, api_id, key, now
    ).items()}  # fmt: skip
    return Request(
        request.method,
        request.path,
        request.query,
        {**request.headers, **added},
        request.body,
    )


def post_request():
    return Request(
        "POST",
        "/api/v1/compute_pools/pool1",
        "",
        {"host": "127.0.0.1:5870", "content-type": "application/json"},
        b'{"storage": "", "network": ""}',
    )


def test_sign_then_verify():
    """What sign() produces, verify() accepts."""
    assert verify(signed(post_request()), CREDENTIALS, NOW) == "nano-client"


def test_sign_omits_content_type_without_body():
    """Nano 1.x leaves Content-Type out of the signature with no body."""
    request = Request("GET", "/api/v1/templates/", "", {"host": "h"})
    headers = sign(request, "nano-client", KEY, NOW)
    assert (
        "SignedHeaders=host;nano-date;nano-scope,"
        in (headers["Nano-Authorization"])
    )
    assert headers["Nano-Date"] == DATE
    assert headers["Nano-Scope"] == SCOPE


def test_scope_uses_calendar_date():
    """The scope carries the signing date as YYYYMMDD."""
    assert scope_for(NOW) == SCOPE


def rejection(request, now=NOW):
    with pytest.raises(SignatureError) as error:
        verify(request, CREDENTIALS, now)
    return str(error.value)


def with_headers(request, **changes):
    headers = dict(request.headers)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return Request(
        request.method, request.path, request.query, headers, request.body
    )


def test_missing_authorization_rejected():
    """No Nano-Authorization header is rejected with how to sign."""
    message = rejection(post_request())
    assert "missing Nano-Authorization" in message
    assert "config/api.cfg" in message


def test_wrong_key_rejected():
    """A signature made with another key does not match."""
    request = signed(post_request(), key="another-key")
    assert "signature mismatch" in rejection(request)


def test_unknown_api_id_rejected():
    """An API id that is not configured is named in the error."""
    request = signed(post_request(), api_id="stranger")
    assert "unknown API id 'stranger'" in rejection(request)


def test_stale_date_rejected():
    """A request signed a day ago is rejected as stale."""
    request = signed(post_request(), now=NOW - timedelta(days=1))
    message = rejection(request)
    assert "stale Nano-Date 2026-12-03T16:20:05Z" in message
    assert "86400 s" in message


def test_future_date_rejected():
    """A date too far ahead of the server is rejected too."""
    request = signed(post_request(), now=NOW + timedelta(minutes=16))
    assert "stale Nano-Date" in rejection(request)


def test_small_clock_skew_accepted():
    """A client clock a few minutes off is accepted."""
    request = signed(post_request(), now=NOW - timedelta(minutes=14))
    assert verify(request, CREDENTIALS, NOW) == "nano-client"


def test_missing_date_rejected():
    """A request without Nano-Date is rejected, naming the header."""
    request = with_headers(signed(post_request()), nano_date=None)
    assert "missing Nano-Date" in rejection(request)


def test_invalid_date_rejected():
    """A Nano-Date that is not RFC 3339 is named in the error."""
    request = with_headers(signed(post_request()), nano_date="yesterday")
    assert "invalid Nano-Date 'yesterday'" in rejection(request)


def test_scope_header_mismatch_rejected():
    """Nano-Scope must equal the credential's scope."""
    request = with_headers(
        signed(post_request()), nano_scope="20261203/default/nano_request"
    )
    assert "differs from the credential's scope" in rejection(request)


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("AWS4-HMAC-SHA256 Credential=a/b", "invalid signature method"),
        ("Nano-HMAC-SHA256 Credential", "invalid Nano-Authorization token"),
        ("Nano-HMAC-SHA256 Signature=x", "expected exactly Credential"),
        (
            "Nano-HMAC-SHA256 Credential=noscope, SignedHeaders=host, "
            "Signature=00",
            "invalid credential 'noscope'",
        ),
    ],
)
def test_malformed_authorization_rejected(authorization, expected):
    """Each malformed Nano-Authorization header gets its own message."""
    request = with_headers(
        signed(post_request()), nano_authorization=authorization
    )
    assert expected in rejection(request)


@pytest.mark.parametrize(
    "change",
    [
        {"body": b'{"storage": "nfs", "network": ""}'},
        {"path": "/api/v1/compute_pools/pool2"},
        {"query": "force=1"},
    ],
)
def test_tampered_request_rejected(change):
    """Changing the body, path or query breaks the signature."""
    request = signed(post_request())
    fields = {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": request.headers,
        "body": request.body,
    }
    tampered = Request(**{**fields, **change})
    assert "signature mismatch" in rejection(tampered)


def test_method_not_covered():
    """
    Nano v1 signatures do not cover the HTTP method: the same signature
    verifies for another method. Pinned so that a change is deliberate.
    """
    request = signed(post_request())
    as_delete = Request(
        "DELETE", request.path, request.query, request.headers, request.body
    )
    assert verify(as_delete, CREDENTIALS, NOW) == "nano-client"


def test_tampered_signed_header_rejected():
    """Changing a signed header breaks the signature."""
    request = with_headers(signed(post_request()), host="evil:5870")
    assert "signature mismatch" in rejection(request)


@given(
    path=st.text(min_size=1, max_size=40),
    query=st.dictionaries(st.text(max_size=10), st.text(max_size=10)),
    body=st.binary(max_size=200),
)
def test_sign_verify_round_trip(path, query, body):
    """Any path, query and body signed by sign() passes verify()."""
    from urllib.parse import quote, urlencode

    request = Request(
        "POST",
        "/api/v1/" + quote(path, safe=""),
        urlencode(query),
        {"host": "127.0.0.1:5870", "content-type": "application/json"},
        body,
    )
    assert verify(signed(request), CREDENTIALS, NOW) == "nano-client"


@given(path=st.text(max_size=60) | st.from_regex(r"[a-z0-9/_.~-]{0,60}"))
def test_escape_path_shortcut_matches_quote_plus(path):
    """The shortcut for plain paths gives what two quote_plus calls give."""
    from urllib.parse import quote_plus

    expected = quote_plus(quote_plus(path, safe=""), safe="")
    assert escape_path(path) == expected
