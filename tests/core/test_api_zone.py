"""Core's API: the zone status."""

from api_helpers import ApiTestCase


class ZoneStatusTests(ApiTestCase):
    """GET /compute_zone_status/ in Nano 1.x's shape."""

    def test_empty_zone(self):
        """A new Core has no pools, and its start time in UTC."""
        reply = self.call("GET", "/api/v1/compute_zone_status/")
        self.assert_ok(reply)
        self.assertEqual(reply.data["name"], "default")
        self.assertEqual(reply.data["pools"], [0, 0])
        self.assertEqual(reply.data["cells"], [0, 0])
        self.assertEqual(reply.data["instances"], [0, 0, 0, 0])
        self.assertEqual(reply.data["start_time"], "2026-12-04 16:20:05")

    def test_counts_pools(self):
        """Pools are counted as [disabled, enabled]."""
        for name in ["a", "b", "c"]:
            self.assert_ok(self.call("POST", f"/api/v1/compute_pools/{name}"))
        self.assert_ok(
            self.call("PUT", "/api/v1/compute_pools/b", {"enable": False})
        )
        reply = self.call("GET", "/api/v1/compute_zone_status/")
        self.assertEqual(reply.data["pools"], [1, 2])

    def test_every_nano_field(self):
        """The reply has every field Nano 1.x clients read."""
        reply = self.call("GET", "/api/v1/compute_zone_status/")
        expected = {
            "name",
            "pools",
            "cells",
            "instances",
            "cpu_usage",
            "max_cpu",
            "available_memory",
            "max_memory",
            "available_disk",
            "max_disk",
            "read_speed",
            "write_speed",
            "receive_speed",
            "send_speed",
            "start_time",
        }
        self.assertEqual(set(reply.data), expected)
