"""
Tests of the request checks that every route of Core's API shares:
URLs that are not UTF-8, request bodies over the size limit, and
uploads larger than the free space.
"""

import errno
from types import SimpleNamespace

from image_helpers import ImageApiTestCase, iso_bytes
from twisted.web.server import Request

from nano.core.api._app import MAX_BODY, read_body
from nano.core.api._envelope import ApiError
from nano.core.api._uploads import CappedBody
from nano.core.images import _store


class Utf8Tests(ImageApiTestCase):
    """Paths and queries whose percent-escapes are not UTF-8."""

    def test_path_of_any_route(self):
        """A pool name that is not UTF-8 gets the JSON envelope."""
        reply = self.call("GET", "/api/v1/compute_pools/%ff")
        self.assert_error(reply, 400, "%FF", "UTF-8")

    def test_unknown_route(self):
        """A path matching no route is checked before routing."""
        reply = self.call("GET", "/api/v1/%c3%28/")
        self.assert_error(reply, 400, "%C3%28")

    def test_query_value(self):
        """A guest search filter that is not UTF-8 names its filter."""
        reply = self.call("GET", "/api/v1/guest_search/?pool=%fe")
        self.assert_error(reply, 400, "pool=%FE")

    def test_query_name(self):
        """A query parameter name that is not UTF-8 is named escaped."""
        reply = self.call("GET", "/api/v1/media_image_search/?%ff=1")
        self.assert_error(reply, 400, "name %FF")

    def test_utf8_passes(self):
        """A UTF-8 filter reaches the route."""
        reply = self.call("GET", "/api/v1/media_image_search/?owner=%c3%a9")
        self.assertEqual(reply.status, 200, reply.message)
        self.assertEqual(reply.data, [])


class BodyLimitTests(ImageApiTestCase):
    """JSON request bodies over :data:`MAX_BODY`."""

    def test_declared_length_over_limit(self):
        """A Content-Length over the limit is rejected before the body."""
        body = b" " * (MAX_BODY + 1)
        reply = self.call("POST", "/api/v1/media_images/", body)
        self.assert_error(reply, 413, str(MAX_BODY + 1), str(MAX_BODY))
        self.assertEqual(self.images.of_kind("media"), [])

    def test_body_at_limit_is_parsed(self):
        """A body of exactly the limit reaches the JSON parser."""
        body = b'{"name": "a", "owner": "o", "group": "g"}'
        body = body.ljust(MAX_BODY, b" ")
        reply = self.call("POST", "/api/v1/media_images/", body)
        self.assertEqual(reply.status, 201, reply.message)

    def test_plain_site_reads_at_most_limit(self):
        """Without Core's request class, the limit still applies."""
        self.stub._agent._serverFactory.requestFactory = Request
        body = b" " * (MAX_BODY + 10)
        reply = self.call("POST", "/api/v1/media_images/", body)
        self.assert_error(reply, 413, f"more than {MAX_BODY} bytes")


class FreeSpaceTests(ImageApiTestCase):
    """Uploads whose Content-Length exceeds the free space."""

    def test_upload_over_free_space(self):
        """The upload is rejected with 507, naming the free space."""
        self.patch(_store, "free_space", lambda directory: 4096)
        image_id = self.create_image("media")
        reply = self.upload("media", image_id, iso_bytes())
        self.assert_error(reply, 507, "4096 bytes of free space")
        self.assertIn(str(self.root / "media"), reply.message)
        self.assertEqual(self.files("media"), [])
        self.assertIsNone(self.images.progress(image_id))

    def test_upload_within_free_space(self):
        """An upload that fits is stored."""
        self.patch(_store, "free_space", lambda directory: 10**9)
        image_id = self.create_image("media")
        reply = self.upload("media", image_id, iso_bytes())
        self.assertEqual(reply.status, 200, reply.message)


class CappedBodyTests(ImageApiTestCase):
    """The body of a JSON request without Content-Length."""

    def test_keeps_one_byte_over_limit(self):
        """Chunks past the limit are dropped, and read_body rejects it."""
        body = CappedBody()
        for _ in range(3):
            body.write(b" " * MAX_BODY)
        body.seek(0)

        self.assertEqual(len(body.getvalue()), MAX_BODY + 1)
        request = SimpleNamespace(content=body)
        error = self.assertRaises(ApiError, read_body, request)
        self.assertEqual(error.status, 413)

    def test_small_body_kept(self):
        """A body under the limit is read whole."""
        body = CappedBody()
        body.write(b'{"name": ')
        body.write(b'"a"}')
        body.seek(0)

        request = SimpleNamespace(content=body)
        self.assertEqual(read_body(request), b'{"name": "a"}')


class HostHeaderTests(ImageApiTestCase):
    """A Host header that is not UTF-8."""

    def test_host_not_utf8(self):
        """The JSON envelope names the escaped host name."""
        reply = self.send(
            "GET", "/api/v1/compute_pools/", {"host": b"\xff:5870"}
        )
        self.assert_error(reply, 400, "Host header %FF")


class StoreOutOfSpaceTests(ImageApiTestCase):
    """A disk that fills while the complete upload is synced."""

    def test_sync_out_of_space(self):
        """ENOSPC from the sync is a 507 naming the directory."""

        def full(path):
            raise OSError(errno.ENOSPC, "No space left on device")

        self.patch(_store, "sync_file", full)
        image_id = self.create_image("media")

        reply = self.upload("media", image_id, iso_bytes())

        self.assert_error(reply, 507, "No space left", "free some space")
        self.assertIn(str(self.root / "media"), reply.message)
        self.assertEqual(self.files("media"), [])
