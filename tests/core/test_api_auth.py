"""Core's API: request signatures, the envelope, unknown routes."""

from api_helpers import API_ID, API_KEY, HOST, ApiTestCase

from nano.events import JournalClosedError
from nano.signing import MAX_CLOCK_SKEW, Request, sign


class SignatureTests(ApiTestCase):
    """Every /api/v1 route requires a valid Nano-HMAC-SHA256 signature."""

    def test_signed_request_accepted(self):
        """A request signed with a configured credential is served."""
        reply = self.call("GET", "/api/v1/compute_pools/")
        self.assert_ok(reply, [])
        self.assertEqual(
            reply.headers.getRawHeaders("content-type"), ["application/json"]
        )

    def test_missing_signature(self):
        """A request without Nano-Authorization gets 401."""
        reply = self.call(
            "GET", "/api/v1/compute_pools/", signer=lambda request: {}
        )
        self.assert_error(reply, 401, "missing Nano-Authorization")

    def test_wrong_key(self):
        """A signature made with another key gets 401."""
        reply = self.call(
            "GET",
            "/api/v1/compute_pools/",
            signer=lambda request: self.sign(request, key="not-the-key"),
        )
        self.assert_error(reply, 401, "signature mismatch")

    def test_unknown_api_id(self):
        """A credential id that api.cfg does not list gets 401."""
        reply = self.call(
            "GET",
            "/api/v1/templates/",
            signer=lambda request: self.sign(request, api_id="stranger"),
        )
        self.assert_error(reply, 401, "unknown API id 'stranger'")

    def test_stale_date(self):
        """A signature dated beyond the allowed clock skew gets 401."""
        skew = MAX_CLOCK_SKEW.total_seconds() + 1
        for sign_skew in (-skew, skew):
            reply = self.call(
                "GET",
                "/api/v1/compute_pools/",
                signer=lambda request, s=sign_skew: self.sign(request, skew=s),
            )
            self.assert_error(reply, 401, "stale Nano-Date")

    def test_date_within_skew(self):
        """A client clock a few minutes off is accepted."""
        reply = self.call(
            "GET",
            "/api/v1/compute_pools/",
            signer=lambda request: self.sign(request, skew=-600),
        )
        self.assert_ok(reply)

    def test_tampered_body(self):
        """A body changed after signing gets 401 and changes nothing."""
        signed = Request(
            "POST",
            "/api/v1/compute_pools/a",
            headers={"host": HOST, "content-type": "application/json"},
            body=b'{"failover": false}',
        )
        headers = {
            "host": HOST,
            "content-type": "application/json",
            **sign(signed, API_ID, API_KEY, self.now()),
        }
        reply = self.send(
            "POST", "/api/v1/compute_pools/b", headers, b'{"failover": false}'
        )
        self.assert_error(reply, 401, "signature mismatch")
        self.assertEqual(dict(self.live.current.state.pools), {})

    def test_signature_checked_before_input(self):
        """An unsigned invalid request gets 401, not a validation error."""
        reply = self.call(
            "POST",
            "/api/v1/compute_pools/bad name",
            {"unknown": 1},
            signer=lambda request: {},
        )
        self.assert_error(reply, 401)


class RoutingTests(ApiTestCase):
    """Unknown routes and methods get replies in the envelope."""

    def test_unknown_route(self):
        """A path with no route gets 404 naming the path."""
        reply = self.call("GET", "/api/v1/no_such_thing/")
        self.assert_error(reply, 404, "/api/v1/no_such_thing/")

    def test_slash_optional(self):
        """A route is served with or without its trailing slash, with no
        redirect whose follow-up would carry the old path's signature."""
        self.assert_ok(self.call("POST", "/api/v1/compute_pools/p1", {}))
        for path in ["/api/v1/compute_pools", "/api/v1/compute_pools/p1/"]:
            reply = self.call("GET", path)
            self.assertEqual(reply.status, 200, f"{path}: {reply.message}")

    def test_path_outside_api(self):
        """A path outside /api/v1 gets 404 in the envelope."""
        reply = self.call("GET", "/index.html")
        self.assert_error(reply, 404, "/index.html")

    def test_method_not_allowed(self):
        """A method the route lacks gets 405 with the allowed methods."""
        reply = self.call("PATCH", "/api/v1/compute_pools/")
        self.assert_error(reply, 405, "PATCH", "GET")
        self.assertIn("GET", reply.headers.getRawHeaders("allow")[0])


class ServerErrorTests(ApiTestCase):
    """A bug gets 500 and a journal failure 503, both logged."""

    def test_bug_is_500_and_logged(self):
        """An exception in a handler gets 500 and its traceback logged."""

        def broken(body):
            raise ZeroDivisionError("division by zero")

        self.api.add_routes([("GET", "/broken/", broken)])
        reply = self.call("GET", "/api/v1/broken/")
        self.assert_error(reply, 500, "internal error", "Core's log")
        self.assertNotIn("division", reply.message)
        logged = self.flushLoggedErrors(ZeroDivisionError)
        self.assertEqual(len(logged), 1)

    def test_journal_failure_is_503(self):
        """A change the journal cannot write gets 503 and is not made."""
        self.journal.close()
        self.clock.advance(0)
        reply = self.call("POST", "/api/v1/compute_pools/a")
        self.assert_error(reply, 503, "the change was not saved")
        self.assertEqual(len(self.flushLoggedErrors(JournalClosedError)), 1)
        self.assertNotIn("a", self.live.current.state.pools)
