"""Core's API: the Cells of compute pools (list, get, add, modify,
remove) and the pool delete check."""

from cluster_helpers import ClusterTestCase, instance

POOLS = "/api/v1/compute_pools/"
CELLS = "/api/v1/compute_pool_cells/"


class CellRouteTests(ClusterTestCase):
    """Membership is journalled; liveness comes from the fabric."""

    def setUp(self):
        super().setUp()
        self.assert_ok(self.call("POST", POOLS + "p"), "")

    def join(self, cell="cell-a", pool="p"):
        self.assert_ok(self.call("POST", f"{CELLS}{pool}/{cell}"), "")

    def test_add_is_journalled(self):
        """An added Cell is in a fresh load of the journal, enabled."""
        self.add_cell("cell-a")
        self.join()
        member = self.reloaded_state().cells["cell-a"]
        self.assertEqual((member.pool, member.enabled), ("p", True))

    def test_added_cell_leaves_unallocated(self):
        """A Cell in a pool is no longer listed as unallocated."""
        self.add_cell("cell-a")
        self.add_cell("cell-b")
        self.join()
        reply = self.call("GET", CELLS)
        self.assertEqual([c["name"] for c in reply.data], ["cell-b"])

    def test_list_pool_cells(self):
        """A pool lists its Cells with address and liveness."""
        self.add_cell("cell-b")
        self.add_cell("cell-a")
        self.join("cell-a")
        self.join("cell-b")
        reply = self.call("GET", CELLS + "p")
        self.assert_ok(
            reply,
            [
                {
                    "name": "cell-a",
                    "address": "10.213.8.3",
                    "enabled": True,
                    "alive": True,
                },
                {
                    "name": "cell-b",
                    "address": "10.213.8.2",
                    "enabled": True,
                    "alive": True,
                },
            ],
        )

    def test_get_cell(self):
        """One Cell of a pool, with its (empty) storage list."""
        self.add_cell("cell-a")
        self.join()
        reply = self.call("GET", CELLS + "p/cell-a")
        self.assert_ok(
            reply,
            {
                "name": "cell-a",
                "address": "10.213.8.2",
                "enabled": True,
                "alive": True,
                "storage": [],
            },
        )

    def test_pool_counts_cells(self):
        """The pool's cells field counts its Cells, in list and get."""
        self.add_cell("cell-a")
        self.join()
        self.assertEqual(self.call("GET", POOLS + "p").data["cells"], 1)
        self.assertEqual(self.call("GET", POOLS).data[0]["cells"], 1)

    def test_disable_and_enable(self):
        """PUT enable journals CellDisabled and CellEnabled."""
        self.add_cell("cell-a")
        self.join()
        self.assert_ok(
            self.call("PUT", CELLS + "p/cell-a", {"enable": False}), ""
        )
        self.assertFalse(self.reloaded_state().cells["cell-a"].enabled)
        self.assertFalse(self.call("GET", CELLS + "p/cell-a").data["enabled"])
        self.assert_ok(
            self.call("PUT", CELLS + "p/cell-a", {"enable": True}), ""
        )
        self.assertTrue(self.reloaded_state().cells["cell-a"].enabled)

    def test_unchanged_enable_not_journalled(self):
        """Enabling an enabled Cell records nothing."""
        self.add_cell("cell-a")
        self.join()
        position = self.live.current.position
        self.assert_ok(
            self.call("PUT", CELLS + "p/cell-a", {"enable": True}), ""
        )
        self.assertEqual(self.live.current.position, position)

    def test_remove(self):
        """DELETE journals CellRemoved; the Cell is unallocated again."""
        self.add_cell("cell-a")
        self.join()
        self.assert_ok(self.call("DELETE", CELLS + "p/cell-a"), "")
        self.assertNotIn("cell-a", self.reloaded_state().cells)
        self.assertEqual(self.call("GET", CELLS + "p").data, [])
        self.assertEqual(
            [c["name"] for c in self.call("GET", CELLS).data], ["cell-a"]
        )

    def test_remove_offline_cell(self):
        """An offline Cell can be removed from its pool."""
        self.add_cell("cell-a")
        self.join()
        self.cells["cell-a"].stop()
        self.advance(20)
        self.assert_ok(self.call("DELETE", CELLS + "p/cell-a"), "")
        # It is not connected, so it is not waiting for a pool either.
        self.assert_ok(self.call("GET", CELLS), [])

    def test_remove_with_instances_rejected(self):
        """A Cell holding instances stays, with a 409 naming them."""
        self.add_cell("cell-a", [instance("i1")])
        self.join()
        reply = self.call("DELETE", CELLS + "p/cell-a")
        self.assert_error(reply, 409, "'cell-a'", "has 1 instances")
        self.assertIn("cell-a", self.reloaded_state().cells)

    def test_delete_pool_with_cells_rejected(self):
        """A pool with Cells is kept; the 409 names its Cells."""
        self.add_cell("cell-a")
        self.add_cell("cell-b")
        self.join("cell-a")
        self.join("cell-b")
        reply = self.call("DELETE", POOLS + "p")
        self.assert_error(reply, 409, "cell-a, cell-b", "compute_pool_cells")
        self.assertIn("p", self.reloaded_state().pools)

    def test_delete_pool_after_cells_removed(self):
        """Once its Cells are removed, the pool can be deleted."""
        self.add_cell("cell-a")
        self.join()
        self.call("DELETE", CELLS + "p/cell-a")
        self.assert_ok(self.call("DELETE", POOLS + "p"), "")

    def test_add_to_unknown_pool(self):
        """Adding to a missing pool is a 404 naming the pool."""
        self.add_cell("cell-a")
        reply = self.call("POST", CELLS + "q/cell-a")
        self.assert_error(reply, 404, "compute pool 'q' not found")

    def test_add_unknown_cell(self):
        """A Cell that never connected cannot be added."""
        reply = self.call("POST", CELLS + "p/cell-x")
        self.assert_error(reply, 404, "'cell-x'", "not connected")

    def test_add_twice(self):
        """A Cell already in a pool is a 409 naming that pool."""
        self.call("POST", POOLS + "q")
        self.add_cell("cell-a")
        self.join()
        for pool in ("p", "q"):
            with self.subTest(pool=pool):
                reply = self.call("POST", f"{CELLS}{pool}/cell-a")
                self.assert_error(reply, 409, "compute pool 'p' already")

    def test_add_invalid_cell_name(self):
        """An invalid Cell name is a 400 with the naming rule."""
        reply = self.call("POST", CELLS + "p/-bad")
        self.assert_error(reply, 400, "invalid Cell name '-bad'")

    def test_add_with_unknown_field(self):
        """A body with fields is rejected, naming the field."""
        self.add_cell("cell-a")
        reply = self.call("POST", CELLS + "p/cell-a", {"enable": True})
        self.assert_error(reply, 400, "unknown field 'enable'")

    def test_modify_invalid(self):
        """PUT needs a boolean enable and no other field."""
        self.add_cell("cell-a")
        self.join()
        cases = [
            ({}, "missing field 'enable'"),
            ({"enable": "no"}, 'invalid enable "no"'),
            ({"enable": True, "x": 1}, "unknown field 'x'"),
            (b"[", "invalid JSON"),
        ]
        for body, fragment in cases:
            with self.subTest(body=body):
                reply = self.call("PUT", CELLS + "p/cell-a", body)
                self.assert_error(reply, 400, fragment)

    def test_unknown_member_routes(self):
        """GET, PUT and DELETE of a Cell not in the pool are 404s."""
        self.call("POST", POOLS + "q")
        self.add_cell("cell-a")
        self.join(pool="q")
        for method, body in [
            ("GET", None),
            ("PUT", {"enable": False}),
            ("DELETE", None),
        ]:
            for path in ("p/cell-a", "p/cell-x", "x/cell-a"):
                with self.subTest(method=method, path=path):
                    reply = self.call(method, CELLS + path, body)
                    self.assert_error(reply, 404, "not found")

    def test_list_unknown_pool(self):
        """Listing the Cells of a missing pool is a 404."""
        self.assert_error(
            self.call("GET", CELLS + "x"), 404, "compute pool 'x' not found"
        )

    def test_unsigned_request_rejected(self):
        """Cell routes check the signature like every route."""
        reply = self.send("GET", CELLS, {"host": "127.0.0.1:5870"})
        self.assert_error(reply, 401)
