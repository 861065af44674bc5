"""
Core's cluster over an in-memory fabric: Cells connect, report, are
lost, rejoin their pools, and are found again after Core restarts.
"""

from api_helpers import SynchronousThread
from cluster_helpers import GIB, ClusterTestCase, instance
from twisted.logger import Logger, LogLevel

from nano.events._journal import open_journal
from nano.events.core import CORE_EVENTS
from nano.projections import CoreProjection, LiveProjection

POOLS = "/api/v1/compute_pools/"
CELLS = "/api/v1/compute_pool_cells/"
ADDRESS_POOLS = "/api/v1/address_pools/"


class ClusterTests(ClusterTestCase):
    """The soft state follows what the Cells send."""

    def test_connected_cell_is_unallocated(self):
        """A new Cell is listed as waiting for a pool, with its address."""
        self.add_cell("cell-a")
        reply = self.call("GET", CELLS)
        self.assert_ok(
            reply,
            [
                {
                    "name": "cell-a",
                    "address": "10.213.8.2",
                    "enabled": True,
                    "alive": True,
                }
            ],
        )

    def test_cell_ready_fills_instances(self):
        """The instance list of ComputeCellReady is kept."""
        self.add_cell("cell-a", [instance("i1"), instance("i2", "stopped")])
        live = self.cluster.cell("cell-a")
        self.assertEqual(sorted(live.instances), ["i1", "i2"])
        self.assertEqual(live.instance_counts(), [1, 1, 0, 0])

    def test_report_replaces_numbers(self):
        """Each report replaces the last one."""
        cell = self.add_cell("cell-a")
        cell.report(cpu_load=0.5)
        self.advance(0.1)
        cell.report(cpu_load=0.75, memory_available=3 * GIB)
        self.advance(0.1)
        report = self.cluster.cell("cell-a").report
        self.assertEqual(report.cpu_load, 0.75)
        self.assertEqual(report.memory_available, 3 * GIB)

    def test_reports_never_journalled(self):
        """Reports change no journalled state."""
        cell = self.add_cell("cell-a")
        position = self.live.current.position
        for _ in range(5):
            cell.report()
            self.advance(2)
        self.assertEqual(self.live.current.position, position)

    def test_silent_cell_lost(self):
        """A Cell with no report for 10 s is lost, and back on a report."""
        cell = self.add_cell("cell-a")
        cell.report()
        self.advance(9.5)
        self.assertTrue(self.cluster.cell("cell-a").alive)
        self.advance(1)
        self.assertFalse(self.cluster.cell("cell-a").alive)
        cell.report()
        self.advance(0.1)
        self.assertTrue(self.cluster.cell("cell-a").alive)

    def test_regular_reports_keep_alive(self):
        """A Cell reporting every 2 s stays alive."""
        cell = self.add_cell("cell-a")
        for _ in range(15):
            cell.report()
            self.advance(2)
        self.assertTrue(self.cluster.cell("cell-a").alive)

    def test_disconnected_cell_offline(self):
        """A Cell of a pool whose process died is offline, and its
        instances are lost."""
        self.call("POST", POOLS + "p")
        cell = self.add_cell("cell-a", [instance("i1")])
        self.call("POST", CELLS + "p/cell-a")
        cell.stop()
        self.advance(20)
        live = self.cluster.cell("cell-a")
        self.assertIsNone(live.peer)
        self.assertFalse(live.alive)
        self.assertEqual(live.instance_counts(), [0, 0, 1, 0])

    def test_disconnected_unallocated_forgotten(self):
        """A Cell of no pool is forgotten when it disconnects."""
        cell = self.add_cell("cell-a")
        cell.stop()
        self.advance(20)
        self.assertIsNone(self.cluster.cell("cell-a"))
        self.assert_ok(self.call("GET", CELLS), [])

    def test_same_name_follows_newest(self):
        """A second Cell with the same name replaces the first, whose
        messages are then ignored."""
        first = self.add_cell("cell-a", [instance("i1")])
        second = self.add_cell("cell-a", [instance("i2")], number=9)
        live = self.cluster.cell("cell-a")
        self.assertEqual(live.address, "10.213.8.9")
        self.assertEqual(sorted(live.instances), ["i2"])
        first.deleted("i2")
        self.advance(0.1)
        self.assertEqual(sorted(live.instances), ["i2"])
        second.deleted("i2")
        self.advance(0.1)
        self.assertEqual(live.instances, {})

    def test_instance_messages(self):
        """Started, stopped and deleted instances update the list."""
        cell = self.add_cell("cell-a", [instance("i1", "stopped")])
        instances = self.cluster.cell("cell-a").instances
        cell.started("i1")
        self.advance(0.1)
        self.assertEqual(instances["i1"]["state"], "running")
        cell.stopped("i1")
        self.advance(0.1)
        self.assertEqual(instances["i1"]["state"], "stopped")
        cell.deleted("i1")
        self.advance(0.1)
        self.assertEqual(instances, {})

    def test_added_cell_gets_pool(self):
        """Adding a connected Cell to a pool sends it ComputePoolReady."""
        self.call("POST", ADDRESS_POOLS + "net-1", {"gateway": "10.213.7.1"})
        self.assert_ok(
            self.call("POST", POOLS + "p", {"network": "net-1"}), ""
        )
        cell = self.add_cell("cell-a")
        self.assert_ok(self.call("POST", CELLS + "p/cell-a"), "")
        self.advance(1)
        [pool] = cell.pools
        self.assertEqual((pool.pool, pool.network), ("p", "net-1"))
        self.assertIsNone(pool.storage)

    def test_member_gets_pool_on_connect(self):
        """A Cell of a pool is sent its pool each time it connects."""
        self.call("POST", POOLS + "p")
        cell = self.add_cell("cell-a")
        self.call("POST", CELLS + "p/cell-a")
        self.advance(1)
        cell.stop()
        self.advance(20)
        cell.attach()
        cell.connect()
        self.advance(2, until=lambda: len(cell.pools) == 2)
        self.assertEqual([p.pool for p in cell.pools], ["p", "p"])
        self.assertTrue(self.cluster.cell("cell-a").alive)

    def test_pool_rejected_by_cell(self):
        """A Cell that replies with an error is logged and kept as is."""
        logged = []
        self.cluster.log = Logger(observer=logged.append)
        self.call("POST", POOLS + "p")
        cell = self.add_cell("cell-a", [instance("i1")])
        cell.pool_error = "storage pool not mounted"
        self.call("POST", CELLS + "p/cell-a")
        self.advance(1)
        # The fake Cell's session logs the handler's error too.
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        [event] = [e for e in logged if e["log_level"] == LogLevel.warn]
        self.assertEqual((event["cell"], event["pool"]), ("cell-a", "p"))
        self.assertIn("storage pool not mounted", event["error"])
        self.assertEqual(list(self.cluster.cell("cell-a").instances), ["i1"])

    def test_pool_change_sent(self):
        """A pool's new settings are sent to its connected Cells."""
        self.call("POST", POOLS + "p")
        cell = self.add_cell("cell-a")
        self.call("POST", CELLS + "p/cell-a")
        self.advance(1)
        self.call("POST", ADDRESS_POOLS + "net-2", {"gateway": "10.213.7.1"})
        self.call("PUT", POOLS + "p", {"network": "net-2"})
        self.advance(1)
        self.assertEqual([p.network for p in cell.pools], [None, "net-2"])

    def test_candidates(self):
        """Candidates carry reports, allocations and membership."""
        self.call("POST", POOLS + "p")
        cell = self.add_cell("cell-a", [instance("i1"), instance("i2")])
        self.add_cell("cell-b")
        self.call("POST", CELLS + "p/cell-a")
        self.call("POST", CELLS + "p/cell-b")
        self.call("PUT", CELLS + "p/cell-b", {"enable": False})
        cell.report(cpu_load=0.5, instance_limit=4)
        self.advance(0.1)
        a, b = sorted(self.cluster.candidates("p"), key=lambda c: c.name)
        self.assertEqual((a.name, a.alive, a.enabled), ("cell-a", True, True))
        self.assertEqual(a.cpu_load, 0.5)
        self.assertEqual(a.allocated_cores, 4)
        self.assertEqual(a.allocated_memory, 4 * GIB)
        self.assertEqual(a.allocated_disk, 20 * GIB)
        self.assertEqual((a.instances, a.instance_limit), (2, 4))
        # cell-b has sent no report yet, so the scheduler skips it.
        self.assertEqual(
            (b.name, b.alive, b.enabled), ("cell-b", False, False)
        )


class RestartTests(ClusterTestCase):
    """Core restarted keeps membership and learns the rest again."""

    def restart_core(self):
        """Stop Core as a killed process would, then start it again."""
        self.cluster.stop()
        self.network.detach(self.core_endpoint.transport.getHost())
        self.journal.close()
        self.clock.advance(0)
        self.journal = open_journal(
            self.directory,
            CORE_EVENTS,
            self.clock,
            SynchronousThread(),
            2**26,
        )
        self.live = LiveProjection(CoreProjection(), self.journal)
        self.start_core()

    def test_restart_keeps_membership(self):
        """After a restart the pool still has its Cell, which reconnects
        and reports its instances again."""
        self.call("POST", POOLS + "p")
        cell = self.add_cell("cell-a", [instance("i1")])
        self.call("POST", CELLS + "p/cell-a")
        self.call("PUT", CELLS + "p/cell-a", {"enable": False})
        self.advance(1)

        self.restart_core()
        self.assertIsNone(self.cluster.cell("cell-a"))
        reply = self.call("GET", CELLS + "p")
        self.assert_ok(
            reply,
            [
                {
                    "name": "cell-a",
                    "address": "",
                    "enabled": False,
                    "alive": False,
                }
            ],
        )

        self.advance(60, until=lambda: self.cluster.cell("cell-a") is not None)
        self.advance(1)
        cell.report()
        self.advance(0.1)
        live = self.cluster.cell("cell-a")
        self.assertTrue(live.alive)
        self.assertEqual(sorted(live.instances), ["i1"])
        self.assertEqual(len(cell.pools), 2)
        reply = self.call("GET", "/api/v1/instance_status/p/cell-a")
        self.assert_ok(reply)
        self.assertEqual([i["id"] for i in reply.data], ["i1"])
