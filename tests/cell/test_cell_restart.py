"""
A Cell that restarts: it compares its journal with what libvirt runs,
rolls back a create and finishes a delete that the restart cut short,
and sends Core every instance when it connects.
"""

import os

from twisted.internet.defer import Deferred
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from nano.events import read_snapshot
from nano.messages import (
    CellStatusReport,
    ComputeCellReady,
    ComputePoolReady,
    CreateInstanceRequest,
    DeleteInstanceRequest,
)

from .cell_helpers import CORE_ADDRESS, GIB, MIB, CellHarness, new_id


def create_request(instance_id, **fields):
    """Return a CreateInstanceRequest of a small instance."""
    return CreateInstanceRequest(
        task_id="task-1",
        instance_id=instance_id,
        name="db1",
        cores=1,
        memory=128 * MIB,
        disks=fields.pop("disks", [GIB]),
        **fields,
    )


class RestartTests(SynchronousTestCase):
    """A second Cell process on the first one's journal and libvirt."""

    def setUp(self):
        self.directory = self.mktemp()
        self.first = CellHarness(self.directory)

    def restart(self):
        """Stop the first Cell and start another on the same state."""
        self.successResultOf(self.first.stop())
        cell = CellHarness(self.directory, libvirt=self.first.libvirt)
        self.addCleanup(cell.stop)
        return cell

    def create(self, **fields):
        instance_id = new_id()
        self.successResultOf(
            self.first.request(create_request(instance_id, **fields))
        )
        return instance_id

    def test_state_survives_restart(self):
        """Instances and their states are read back from the journal."""
        running = self.create(start=True)
        stopped = self.create()
        cell = self.restart()
        self.assertEqual(cell.book.get(running).state, "running")
        self.assertEqual(cell.book.get(stopped).state, "stopped")
        snapshot = read_snapshot(cell.journal.directory, "cell")
        self.assertEqual(snapshot.seq, cell.journal.last_seq)
        self.assertEqual(snapshot.seq, 7)

    def test_stopped_while_down(self):
        """A domain destroyed while the Cell was down is recorded stopped."""
        instance_id = self.create(start=True)
        self.successResultOf(self.first.stop())
        self.first.libvirt.domain("nano-" + instance_id).destroy()
        cell = CellHarness(self.directory, libvirt=self.first.libvirt)
        self.addCleanup(cell.stop)
        instance = cell.book.get(instance_id)
        self.assertEqual(instance.state, "stopped")
        self.assertEqual(instance.stop_reason, "unknown")
        self.assertEqual(cell.journal_types()[-1], "InstanceStopped")

    def test_undefined_while_down(self):
        """A domain undefined while the Cell was down marks it lost."""
        instance_id = self.create()
        self.successResultOf(self.first.stop())
        self.first.libvirt.domain("nano-" + instance_id).undefine()
        cell = CellHarness(self.directory, libvirt=self.first.libvirt)
        self.addCleanup(cell.stop)
        self.assertEqual(cell.book.get(instance_id).state, "lost")
        (ready,) = cell.core.of_type(ComputeCellReady)
        self.assertEqual(ready.instances[0]["state"], "lost")

    def test_unknown_domain_left_alone(self):
        """A Nano-looking domain not in the journal is reported, kept."""
        name = "nano-" + new_id()
        self.first.libvirt.define(
            f"<domain type='qemu'><name>{name}</name>"
            "<memory unit='KiB'>131072</memory><vcpu>1</vcpu>"
            "<os><type>hvm</type></os></domain>"
        )
        cell = self.restart()
        (ready,) = cell.core.of_type(ComputeCellReady)
        self.assertEqual(ready.unknown_domains, [name])
        self.assertEqual(cell.domain_names(), [name])

    def test_create_cut_short_is_rolled_back(self):
        """
        A restart after the domain was defined but before the create was
        journalled as done removes the domain and volumes.
        """
        define = self.first.host.define

        def define_and_hang(xml):
            define(xml)
            return Deferred()

        self.first.host.define = define_and_hang
        instance_id = new_id()
        self.first.core.session.request(
            self.first.core.peers[0],
            create_request(instance_id, disks=[GIB, GIB]),
        ).addErrback(lambda _: None)
        self.first.run(1)
        self.assertEqual(len(self.first.storage.names()), 2)
        self.assertEqual(len(self.first.domain_names()), 1)

        cell = self.restart()
        self.assertEqual(cell.domain_names(), [])
        self.assertEqual(cell.storage.names(), [])
        self.assertIsNone(cell.book.get(instance_id))
        self.assertEqual(cell.journal_types()[-1], "InstanceCreateFailed")

    def hang_create(self, instance_id, **fields):
        """Send a create whose volume stays in progress until a restart."""
        self.first.storage.create = lambda name, size: Deferred()
        self.first.core.session.request(
            self.first.core.peers[0], create_request(instance_id, **fields)
        ).addErrback(lambda _: None)
        self.first.run(1)

    def test_rollback_leaves_foreign_domain(self):
        """A domain of another UUID with the instance's name is kept."""
        instance_id = new_id()
        self.hang_create(instance_id)
        self.first.libvirt.define(
            f"<domain type='qemu'><name>nano-{instance_id}</name>"
            "<memory unit='KiB'>131072</memory><vcpu>1</vcpu>"
            "<os><type>hvm</type></os></domain>"
        )
        cell = self.restart()
        self.assertIsNone(cell.book.get(instance_id))
        self.assertEqual(cell.domain_names(), [f"nano-{instance_id}"])
        self.assertEqual(len(cell.core.of_type(ComputeCellReady)), 1)

    def test_failed_rollback_keeps_cell_serving(self):
        """
        A rollback that fails at start-up is logged, the Cell serves the
        other instances, and a delete later finishes the instance.
        """
        instance_id = new_id()
        self.hang_create(instance_id)
        path = self.first.storage.path(f"{instance_id}-0")
        with open(path, "w") as volume:
            volume.write("partial")
        unlink = os.unlink

        def unlink_fails(target):
            if target == path:
                raise PermissionError(13, "Permission denied")
            unlink(target)

        self.patch(os, "unlink", unlink_fails)
        with capturedLogs() as logged:
            cell = self.restart()
        messages = [formatEvent(event) for event in logged]
        self.assertTrue(
            any("Could not finish the create" in m for m in messages)
        )
        self.assertEqual(cell.book.get(instance_id).state, "creating")
        self.assertEqual(len(cell.core.of_type(ComputeCellReady)), 1)

        self.patch(os, "unlink", unlink)
        self.successResultOf(
            cell.request(
                DeleteInstanceRequest(task_id="t3", instance_id=instance_id)
            )
        )
        self.assertIsNone(cell.book.get(instance_id))
        self.assertEqual(cell.storage.names(), [])

    def test_delete_cut_short_is_finished(self):
        """A restart during a delete finishes it."""
        instance_id = self.create(start=True)
        delete = self.first.storage.delete
        self.first.storage.delete = lambda name: Deferred()
        self.first.core.session.request(
            self.first.core.peers[0],
            DeleteInstanceRequest(task_id="t2", instance_id=instance_id),
        ).addErrback(lambda _: None)
        self.first.run(1)
        self.first.storage.delete = delete
        self.assertEqual(self.first.domain_names(), [])

        cell = self.restart()
        self.assertIsNone(cell.book.get(instance_id))
        self.assertEqual(cell.storage.names(), [])
        self.assertEqual(cell.journal_types()[-1], "InstanceDeleted")


class CoreConnectionTests(SynchronousTestCase):
    """What Core hears when it connects, and the status reports."""

    def setUp(self):
        self.cell = CellHarness(self.mktemp())
        self.addCleanup(self.cell.stop)

    def test_ready_on_connect(self):
        """On connecting, the Cell sends every instance to Core."""
        (ready,) = self.cell.core.of_type(ComputeCellReady)
        self.assertEqual(ready.cell, "Cell_test")
        self.assertEqual(ready.instances, [])

    def test_ready_again_on_reconnect(self):
        """When Core comes back, the Cell sends its instances again."""
        instance_id = new_id()
        self.successResultOf(self.cell.request(create_request(instance_id)))
        closed = self.cell.core.peers[0].close()
        self.cell.run(5)
        self.successResultOf(closed)
        self.assertIsNone(self.cell.parts.service.core)
        self.cell.cell_endpoint.connect(CORE_ADDRESS)
        self.cell.run(2)
        first, second = self.cell.core.of_type(ComputeCellReady)
        self.assertEqual(first.instances, [])
        self.assertEqual([i["id"] for i in second.instances], [instance_id])

    def test_pool_ready_reply(self):
        """The reply to ComputePoolReady lists instances and the pool."""
        instance_id = new_id()
        self.successResultOf(self.cell.request(create_request(instance_id)))
        reply = self.successResultOf(
            self.cell.request(ComputePoolReady(pool="pool-a"))
        )
        self.assertIsInstance(reply, ComputeCellReady)
        self.assertEqual(reply.pool, "pool-a")
        self.assertEqual([i["id"] for i in reply.instances], [instance_id])

    def test_status_reports_every_two_seconds(self):
        """Reports arrive every 2 s with the host's and volumes' sizes."""
        self.cell.parts.reporter.startService()
        self.cell.run(0)
        self.successResultOf(
            self.cell.request(create_request(new_id(), start=True))
        )
        before = len(self.cell.core.of_type(CellStatusReport))
        self.cell.run(10)
        reports = self.cell.core.of_type(CellStatusReport)
        self.assertIn(len(reports) - before, (5, 6))
        last = reports[-1]
        self.assertEqual(last.cell, "Cell_test")
        self.assertEqual(last.cores, 16)
        self.assertEqual(last.memory, 3072 * MIB)
        self.assertEqual(last.memory_available, 3145728)
        self.assertEqual(last.disk, 100 * GIB)
        self.assertEqual(last.disk_available, 60 * GIB)
        self.assertEqual((last.instances, last.running), (1, 1))
        self.assertEqual(last.instance_limit, 100)
        self.assertTrue(0 <= last.cpu_load <= 1)

    def test_no_reports_without_core(self):
        """No report is made while Core is not connected."""
        service = self.cell.parts.service
        service.peer_disconnected(service.core, graceful=True)
        self.cell.parts.reporter.startService()
        self.cell.run(5)
        self.assertEqual(self.cell.core.of_type(CellStatusReport), [])


class LibvirtRestartTests(SynchronousTestCase):
    """libvirtd restarts while the Cell runs."""

    def test_changes_while_disconnected(self):
        """A domain destroyed while libvirtd was away is found stopped."""
        cell = CellHarness(self.mktemp())
        self.addCleanup(cell.stop)
        instance_id = new_id()
        self.successResultOf(
            cell.request(create_request(instance_id, start=True))
        )
        cell.libvirt.restart_daemon()
        cell.run(0)
        # No connection is open, so the Cell hears no event of this.
        cell.libvirt.domain("nano-" + instance_id).destroy()
        cell.run(0.5)
        self.assertEqual(cell.book.get(instance_id).state, "running")
        cell.run(5)
        self.assertEqual(cell.book.get(instance_id).state, "stopped")
