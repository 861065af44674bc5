"""
Core's API over a real journal in a temporary directory, driven
synchronously: requests go through ``StubTreq`` and are signed with
:func:`nano.signing.sign`, and the journal writes in the calling thread
on a shared :class:`Clock`, which :meth:`ApiTestCase.call` advances.
"""

from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from urllib.parse import urlsplit

import orjson
from treq.testing import StubTreq
from twisted.internet.defer import fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nano.core.api import build_api
from nano.events._journal import open_journal
from nano.events.core import CORE_EVENTS
from nano.projections import CoreProjection, LiveProjection, load
from nano.signing import Request, sign

API_ID = "test-client"
API_KEY = "a-test-key-of-some-length"
CREDENTIALS = {API_ID: API_KEY}
HOST = "127.0.0.1:5870"
#: The test clock's start: 2026-12-04 16:20:05 UTC.
NOW = datetime(2026, 12, 4, 16, 20, 5, tzinfo=UTC)


class SynchronousThread:
    """Run journal writes at once, in the calling thread."""

    def run(self, function, *args):
        try:
            return succeed(function(*args))
        except Exception:
            return fail()

    def stop(self):
        pass


class Reply:
    """A decoded API reply: HTTP status and the envelope's fields."""

    def __init__(self, status: int, body: bytes, headers):
        self.status = status
        self.headers = headers
        self.envelope = orjson.loads(body)
        self.error_code = self.envelope["error_code"]
        self.message = self.envelope["message"]
        self.data = self.envelope["data"]


class ApiTestCase(SynchronousTestCase):
    """A fresh Core API with no events, for each test."""

    def setUp(self):
        self.directory = Path(self.mktemp())
        self.clock = Clock()
        self.clock.advance(NOW.timestamp())
        self.journal = open_journal(
            self.directory, CORE_EVENTS, self.clock, SynchronousThread(), 2**26
        )
        self.addCleanup(self._close_journal)
        self.live = LiveProjection(CoreProjection(), self.journal)
        ids = count(1)
        self.api = build_api(
            self.live, CREDENTIALS, self.clock, lambda: f"t{next(ids)}"
        )
        self.stub = StubTreq(self.api.resource())

    def _close_journal(self):
        self.journal.close()
        self.clock.advance(0)

    def call(self, method, path, body=None, *, headers=None, signer=None):
        """
        Send a signed request and return its :class:`Reply`.

        :param body: a JSON value, or ``bytes`` sent unchanged.
        :param signer: returns the signature headers for a
            :class:`nano.signing.Request`; signs with the test credential
            at the clock's time by default.
        """
        data = body if isinstance(body, bytes) else b""
        all_headers = {"host": HOST}
        if body is not None and not isinstance(body, bytes):
            data = orjson.dumps(body)
            all_headers["content-type"] = "application/json"
        all_headers.update(headers or {})
        if signer is None:
            signer = self.sign
        split = urlsplit(path)
        request = Request(method, split.path, split.query, all_headers, data)
        all_headers.update(signer(request))
        return self.send(method, path, all_headers, data)

    def now(self) -> datetime:
        """Return the test clock's time."""
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def sign(self, request, key=API_KEY, api_id=API_ID, skew=0):
        """Return signature headers made ``skew`` seconds from now."""
        now = datetime.fromtimestamp(self.clock.seconds() + skew, UTC)
        return sign(request, api_id, key, now)

    def send(self, method, path, headers, data=b"") -> Reply:
        """Send a request as given, settle the journal, read the reply."""
        responding = self.stub.request(
            method, f"http://{HOST}{path}", headers=headers, data=data
        )
        self.clock.advance(0)
        self.stub.flush()
        response = self.successResultOf(responding)
        content = response.content()
        self.stub.flush()
        return Reply(
            response.code, self.successResultOf(content), response.headers
        )

    def assert_error(self, reply, status, *fragments):
        """Check a failed reply's status, envelope and message."""
        self.assertEqual(reply.status, status, reply.message)
        self.assertEqual(reply.error_code, status)
        self.assertEqual(reply.data, {})
        for fragment in fragments:
            self.assertIn(fragment, reply.message)

    def assert_ok(self, reply, data=None):
        """Check a successful reply, and its data unless ``None``."""
        self.assertEqual(reply.status, 200, reply.message)
        self.assertEqual(reply.error_code, 0)
        self.assertEqual(reply.message, "")
        if data is not None:
            self.assertEqual(reply.data, data)

    def reloaded_state(self):
        """Return Core's state as a fresh load of the journal gives it."""
        return load(CoreProjection(), self.journal).state
