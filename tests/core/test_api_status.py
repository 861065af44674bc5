"""Core's API: zone, pool, Cell and instance status from live reports."""

from cluster_helpers import GIB, ClusterTestCase, instance

POOLS = "/api/v1/compute_pools/"
CELLS = "/api/v1/compute_pool_cells/"
SPEEDS = ("read_speed", "write_speed", "receive_speed", "send_speed")


class StatusTests(ClusterTestCase):
    """
    Two Cells in pool p: cell-a (8 cores, 25 % busy, a running and a
    stopped instance) and cell-b (4 cores, 50 % busy, one lost instance).
    """

    def setUp(self):
        super().setUp()
        self.call("POST", POOLS + "p")
        self.call("POST", POOLS + "empty")
        a = self.add_cell(
            "cell-a", [instance("a1"), instance("a2", "stopped")]
        )
        b = self.add_cell("cell-b", [instance("b1", "lost")])
        for name in ("cell-a", "cell-b"):
            self.assert_ok(self.call("POST", f"{CELLS}p/{name}"), "")
        a.report()
        b.report(
            cores=4,
            cpu_load=0.5,
            memory=16 * GIB,
            memory_available=8 * GIB,
            disk=100 * GIB,
            disk_available=50 * GIB,
        )
        self.advance(1)

    def test_cell_status(self):
        """One Cell's figures come from its last report."""
        reply = self.call("GET", "/api/v1/compute_cell_status/p/cell-a")
        self.assert_ok(
            reply,
            {
                "name": "cell-a",
                "address": "10.213.8.2",
                "enabled": True,
                "alive": True,
                "instances": [1, 1, 0, 0],
                "cpu_usage": 25.0,
                "max_cpu": 8,
                "available_memory": 24 * GIB,
                "max_memory": 32 * GIB,
                "available_disk": 400 * GIB,
                "max_disk": 500 * GIB,
                **dict.fromkeys(SPEEDS, 0),
            },
        )

    def test_cells_of_pool(self):
        """The pool's Cells, sorted by name, with and without a slash."""
        for path in ("p", "p/"):
            with self.subTest(path=path):
                reply = self.call("GET", "/api/v1/compute_cell_status/" + path)
                self.assert_ok(reply)
                self.assertEqual(
                    [c["name"] for c in reply.data], ["cell-a", "cell-b"]
                )
                self.assertEqual(reply.data[1]["instances"], [0, 0, 1, 0])

    def test_pool_status_sums_cells(self):
        """A pool sums its online Cells; CPU usage is weighted by cores."""
        reply = self.call("GET", "/api/v1/compute_pool_status/p")
        self.assert_ok(reply)
        data = reply.data
        self.assertEqual(data["name"], "p")
        self.assertTrue(data["enabled"])
        self.assertEqual(data["cells"], [0, 2])
        self.assertEqual(data["instances"], [1, 1, 1, 0])
        # (0.25 * 8 + 0.5 * 4) / 12 busy cores
        self.assertEqual(data["cpu_usage"], 33.33)
        self.assertEqual(data["max_cpu"], 12)
        self.assertEqual(data["available_memory"], 32 * GIB)
        self.assertEqual(data["max_memory"], 48 * GIB)
        self.assertEqual(data["available_disk"], 450 * GIB)
        self.assertEqual(data["max_disk"], 600 * GIB)

    def test_all_pools(self):
        """Every pool's status, sorted by name."""
        reply = self.call("GET", "/api/v1/compute_pool_status/")
        self.assert_ok(reply)
        self.assertEqual([p["name"] for p in reply.data], ["empty", "p"])
        self.assertEqual(reply.data[0]["cells"], [0, 0])
        self.assertEqual(reply.data[0]["max_cpu"], 0)
        self.assertEqual(reply.data[1]["cells"], [0, 2])
        self.assertEqual(reply.data[1]["max_cpu"], 12)
        self.assertEqual(
            reply.data[1],
            self.call("GET", "/api/v1/compute_pool_status/p").data,
        )

    def test_zone_totals(self):
        """The zone counts every Cell and instance."""
        self.add_cell("cell-c")
        reply = self.call("GET", "/api/v1/compute_zone_status/")
        self.assert_ok(reply)
        self.assertEqual(reply.data["pools"], [0, 2])
        self.assertEqual(reply.data["cells"], [0, 3])
        self.assertEqual(reply.data["instances"], [1, 1, 1, 0])
        self.assertEqual(reply.data["max_cpu"], 12)

    def test_lost_cell(self):
        """A silent Cell is offline: its capacity leaves the totals and
        its instances count as lost."""
        self.cells["cell-a"].report()
        self.advance(10.5)
        self.cells["cell-b"].report(cores=4, cpu_load=0.5)
        self.advance(0.1)
        cell = self.call("GET", "/api/v1/compute_cell_status/p/cell-a").data
        self.assertFalse(cell["alive"])
        self.assertEqual(cell["instances"], [0, 0, 2, 0])
        self.assertEqual(cell["max_cpu"], 0)
        pool = self.call("GET", "/api/v1/compute_pool_status/p").data
        self.assertEqual(pool["cells"], [1, 1])
        self.assertEqual(pool["instances"], [0, 0, 3, 0])
        self.assertEqual(pool["max_cpu"], 4)
        self.assertEqual(pool["cpu_usage"], 50.0)
        listing = self.call("GET", CELLS + "p").data
        self.assertEqual([c["alive"] for c in listing], [False, True])

    def test_instances_of_cell(self):
        """A Cell's instances, sorted by id, in Nano 1.x's names."""
        reply = self.call("GET", "/api/v1/instance_status/p/cell-a")
        self.assert_ok(reply)
        self.assertEqual(
            reply.data[0],
            {
                "id": "a1",
                "name": "vm-a1",
                "created": True,
                "running": True,
                "state": "running",
                "cores": 2,
                "memory": 2 * GIB,
                "disks": [10 * GIB],
                "pool": "p",
                "cell": "cell-a",
            },
        )
        self.assertEqual(
            [(i["id"], i["running"]) for i in reply.data],
            [("a1", True), ("a2", False)],
        )

    def test_instances_of_pool(self):
        """A pool's instances, Cell by Cell, with and without a slash."""
        for path in ("p", "p/"):
            with self.subTest(path=path):
                reply = self.call("GET", "/api/v1/instance_status/" + path)
                self.assert_ok(reply)
                self.assertEqual(
                    [(i["id"], i["cell"]) for i in reply.data],
                    [("a1", "cell-a"), ("a2", "cell-a"), ("b1", "cell-b")],
                )

    def test_instances_of_lost_cell(self):
        """The instances of an offline Cell are lost, not running."""
        self.cells["cell-a"].stop()
        self.advance(20)
        reply = self.call("GET", "/api/v1/instance_status/p/cell-a")
        self.assertEqual([i["state"] for i in reply.data], ["lost", "lost"])
        self.assertEqual([i["running"] for i in reply.data], [False, False])

    def test_unknown_names(self):
        """Unknown pools and Cells are 404s naming them."""
        cases = [
            ("/api/v1/compute_pool_status/x", "compute pool 'x'"),
            ("/api/v1/compute_cell_status/x", "compute pool 'x'"),
            ("/api/v1/compute_cell_status/p/cell-x", "Cell 'cell-x'"),
            ("/api/v1/compute_cell_status/empty/cell-a", "Cell 'cell-a'"),
            ("/api/v1/instance_status/x", "compute pool 'x'"),
            ("/api/v1/instance_status/x/cell-a", "compute pool 'x'"),
            ("/api/v1/instance_status/p/cell-x", "Cell 'cell-x'"),
        ]
        for path, fragment in cases:
            with self.subTest(path=path):
                reply = self.call("GET", path)
                self.assert_error(reply, 404, fragment, "not found")
