"""
The Cell's request handlers on the fake libvirt, driven by a test Core
over the in-memory fabric: each request, each failure, and the rollback
that leaves nothing behind.
"""

import os

from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from nano.cell._settings import CellSettings
from nano.cell.libvirt import DomainEvent, LifecycleEvent
from nano.cell.storage import StorageFull, StorageUnwritable
from nano.fabric import RemoteError
from nano.messages import (
    CreateInstanceRequest,
    CreateInstanceResponse,
    DeleteInstanceRequest,
    GetInstanceStatusRequest,
    InstanceDeleted,
    InstanceStarted,
    InstanceStopped,
    StartInstanceRequest,
    StopInstanceRequest,
)
from nano.testing.fake_libvirt import libvirtError

from .cell_helpers import GIB, MIB, CellHarness, new_id


def create_request(instance_id, **fields):
    """Return a CreateInstanceRequest of a small instance."""
    values = {
        "task_id": "task-1",
        "instance_id": instance_id,
        "name": "web1",
        "cores": 2,
        "memory": 256 * MIB,
        "disks": [10 * GIB],
        "mac": "52:54:00:12:34:56",
    }
    values.update(fields)
    return CreateInstanceRequest(**values)


class HandlerTestCase(SynchronousTestCase):
    """A started Cell on fakes, and helpers to create instances."""

    def setUp(self):
        self.cell = CellHarness(self.mktemp())
        # Stops the Cell that runs at the end, also after a restart.
        self.addCleanup(lambda: self.cell.stop())

    def create(self, **fields):
        """Create an instance; return its id and the reply."""
        instance_id = new_id()
        replied = self.cell.request(create_request(instance_id, **fields))
        return instance_id, self.successResultOf(replied)

    def fails(self, request, *expected):
        """Send a request that must fail; return the error text."""
        failure = self.failureResultOf(self.cell.request(request), RemoteError)
        text = str(failure.value)
        for part in expected:
            self.assertIn(part, text)
        return text

    def assert_nothing_left(self, instance_id):
        """No domain, no volume and no journalled instance remain."""
        self.assertEqual(self.cell.domain_names(), [])
        self.assertEqual(self.cell.storage.names(), [])
        self.assertIsNone(self.cell.book.get(instance_id))


class CreateTests(HandlerTestCase):
    """CreateInstanceRequest."""

    def test_create_defines_stopped_domain(self):
        """A create makes the volumes and a stopped domain, journalled."""
        instance_id, reply = self.create(disks=[10 * GIB, 20 * GIB])

        self.assertIsInstance(reply, CreateInstanceResponse)
        self.assertEqual(reply.task_id, "task-1")
        self.assertEqual(reply.instance["state"], "stopped")
        self.assertEqual(reply.instance["disks"], [10 * GIB, 20 * GIB])
        domain = self.cell.libvirt.domain("nano-" + instance_id)
        self.assertEqual(domain.UUIDString(), instance_id)
        self.assertEqual(domain.state()[0], 5)
        self.assertEqual(
            self.cell.storage.names(),
            [f"{instance_id}-0", f"{instance_id}-1"],
        )
        self.assertEqual(
            self.cell.journal_types(),
            [
                "InstanceCreating",
                "VolumeCreated",
                "VolumeCreated",
                "InstanceCreated",
            ],
        )

    def test_domain_xml_from_request(self):
        """The domain has the request's size, devices, NIC and data disk."""
        instance_id, _ = self.create(
            disks=[10 * GIB, 20 * GIB],
            template={"disk": "sata", "network": "e1000"},
        )
        xml = self.cell.libvirt.domain("nano-" + instance_id).XMLDesc()
        self.assertIn("<title>web1</title>", xml)
        self.assertIn('<vcpu placement="static">2</vcpu>', xml)
        self.assertIn('<target dev="sda" bus="sata"', xml)
        self.assertIn('<target dev="sdb" bus="sata"', xml)
        self.assertIn('<model type="e1000"', xml)
        self.assertIn('<source bridge="nanobr0"', xml)
        self.assertIn("52:54:00:12:34:56", xml)
        self.assertIn('type="qemu"', xml.split(">")[0])

    def test_create_and_start(self):
        """With start, the domain runs and Core hears InstanceStarted."""
        instance_id, reply = self.create(start=True)
        self.cell.run(1)
        self.assertEqual(reply.instance["state"], "running")
        self.assertEqual(
            self.cell.libvirt.domain("nano-" + instance_id).state()[0], 1
        )
        started = self.cell.core.of_type(InstanceStarted)
        self.assertEqual([m.instance_id for m in started], [instance_id])
        self.assertEqual(self.cell.journal_types()[-1], "InstanceStarted")

    def test_repeated_create_of_same_task(self):
        """The same task's create again returns the instance, no new work."""
        instance_id = new_id()
        first = self.successResultOf(
            self.cell.request(create_request(instance_id))
        )
        events = len(self.cell.journal_types())
        second = self.successResultOf(
            self.cell.request(create_request(instance_id))
        )
        self.assertEqual(second.instance, first.instance)
        self.assertEqual(len(self.cell.journal_types()), events)

    def test_existing_id_of_another_task(self):
        """Another task cannot create an instance with a taken id."""
        instance_id, _ = self.create()
        self.fails(
            create_request(instance_id, task_id="task-2"),
            "exists already",
            "task-1",
        )
        self.assertEqual(len(self.cell.domain_names()), 1)

    def test_invalid_requests_journal_nothing(self):
        """Invalid values are rejected, naming the field, unjournalled."""
        cases = [
            ({"instance_id": "vm1"}, "invalid instance_id 'vm1'"),
            ({"memory": 10 * MIB}, "invalid memory"),
            ({"template": {"disk": "floppy"}}, "invalid disk bus 'floppy'"),
            ({"template": {"sound": "ac97"}}, "invalid template key(s) sound"),
            ({"mac": "01:00:00:00:00:01"}, "invalid mac"),
            ({"image": "relative.qcow2"}, "invalid image 'relative.qcow2'"),
            (
                {"disks": [GIB] * 4, "template": {"disk": "ide"}},
                "at most 3 besides the CD-ROM drive",
            ),
        ]
        for fields, expected in cases:
            instance_id = fields.pop("instance_id", new_id())
            self.fails(create_request(instance_id, **fields), expected)
        self.assertEqual(self.cell.journal_types(), [])
        self.assertEqual(self.cell.storage.names(), [])

    def test_instance_limit(self):
        """A Cell at its instance limit rejects another create."""
        directory = self.mktemp()
        self.addCleanup(self.cell.stop)
        self.cell = CellHarness(
            directory,
            settings=CellSettings(
                domain_type="qemu",
                storage_directory=os.path.abspath(f"{directory}/volumes"),
                instance_limit=1,
            ),
        )
        self.create()
        self.fails(create_request(new_id()), "instance_limit")


class CreateRollbackTests(HandlerTestCase):
    """A create that fails at each step removes what it made."""

    def assert_rolled_back(self, instance_id, text):
        self.assert_nothing_left(instance_id)
        types = self.cell.journal_types()
        self.assertEqual(types[0], "InstanceCreating")
        self.assertEqual(types[-1], "InstanceCreateFailed")
        self.assertIn("rolled back", text)

    def test_first_volume_fails(self):
        """The system volume cannot be made: nothing else is tried."""
        instance_id = new_id()
        self.cell.storage.failures[f"{instance_id}-0"] = StorageFull(
            "qemu-img create failed: No space left on device"
        )
        text = self.fails(create_request(instance_id), "No space left")
        self.assert_rolled_back(instance_id, text)

    def test_second_volume_fails(self):
        """The data volume fails: the system volume is deleted again."""
        instance_id = new_id()
        self.cell.storage.failures[f"{instance_id}-1"] = StorageUnwritable(
            "volume directory is not writable"
        )
        text = self.fails(
            create_request(instance_id, disks=[GIB, GIB]), "not writable"
        )
        self.assert_rolled_back(instance_id, text)
        self.assertIn("VolumeDeleted", self.cell.journal_types())

    def test_define_fails(self):
        """
        A foreign domain with the instance's name: the define fails, the
        volume is deleted, and the foreign domain is left alone.
        """
        instance_id = new_id()
        self.cell.libvirt.define(
            f"<domain type='qemu'><name>nano-{instance_id}</name>"
            "<memory unit='KiB'>131072</memory><vcpu>1</vcpu>"
            "<os><type>hvm</type></os></domain>"
        )
        text = self.fails(create_request(instance_id), "already")
        self.assertEqual(self.cell.domain_names(), [f"nano-{instance_id}"])
        self.assertEqual(self.cell.storage.names(), [])
        self.assertIsNone(self.cell.book.get(instance_id))
        self.assertEqual(self.cell.journal_types()[-1], "InstanceCreateFailed")
        self.assertIn("rolled back", text)

    def test_start_fails(self):
        """The domain does not start: it is undefined, volume deleted."""
        instance_id = new_id()
        define = self.cell.host.define

        def define_broken(xml):
            defined = define(xml)

            def break_start(guest):
                domain = self.cell.libvirt.domain(guest.name)
                domain.create = _raise_start_error
                return guest

            return defined.addCallback(break_start)

        self.cell.host.define = define_broken
        text = self.fails(
            create_request(instance_id, start=True), "Cannot access storage"
        )
        self.assert_rolled_back(instance_id, text)

    def test_image_missing(self):
        """A missing image fails the create and leaves nothing."""
        instance_id = new_id()
        text = self.fails(
            create_request(instance_id, image="/nonexistent/base.qcow2"),
            "/nonexistent/base.qcow2",
        )
        self.assert_rolled_back(instance_id, text)


def _raise_start_error():
    raise libvirtError(
        "Cannot access storage file '/x.qcow2': No such file or directory",
        38,
    )


class PowerTests(HandlerTestCase):
    """Start, stop, reboot and status."""

    def test_start_and_force_stop(self):
        """Start runs the domain; a forced stop destroys it at once."""
        instance_id, _ = self.create()
        started = self.successResultOf(
            self.cell.request(
                StartInstanceRequest(task_id="t2", instance_id=instance_id)
            )
        )
        self.assertEqual(started.state, "running")
        stopped = self.successResultOf(
            self.cell.request(
                StopInstanceRequest(
                    task_id="t3", instance_id=instance_id, force=True
                )
            )
        )
        self.assertEqual(stopped.state, "stopped")
        self.cell.run(3)
        domain = self.cell.libvirt.domain("nano-" + instance_id)
        self.assertEqual(domain.state()[0], 5)
        instance = self.cell.book.get(instance_id)
        self.assertEqual(instance.state, "stopped")
        self.assertEqual(instance.stop_reason, "destroyed")
        notices = self.cell.core.of_type(InstanceStopped)
        self.assertEqual([m.reason for m in notices], ["destroyed"])
        self.assertEqual(
            self.cell.journal_types()[-2:],
            ["InstanceStarted", "InstanceStopped"],
        )

    def test_acpi_stop_waits_for_guest(self):
        """Without force the guest is asked; its STOPPED event records it."""
        instance_id, _ = self.create(start=True)
        reply = self.successResultOf(
            self.cell.request(
                StopInstanceRequest(task_id="t2", instance_id=instance_id)
            )
        )
        # The fake guest obeys at once, but the host delays STOPPED 2 s.
        self.assertEqual(reply.state, "running")
        self.cell.run(3)
        instance = self.cell.book.get(instance_id)
        self.assertEqual(instance.state, "stopped")
        self.assertEqual(instance.stop_reason, "shutdown")

    def test_forced_reboot_keeps_running(self):
        """A forced reboot restarts the domain without a stop recorded."""
        instance_id, _ = self.create(start=True)
        reply = self.successResultOf(
            self.cell.request(
                StopInstanceRequest(
                    task_id="t2",
                    instance_id=instance_id,
                    reboot=True,
                    force=True,
                )
            )
        )
        self.cell.run(3)
        self.assertEqual(reply.state, "running")
        self.assertEqual(self.cell.book.get(instance_id).state, "running")
        self.assertEqual(self.cell.core.of_type(InstanceStopped), [])

    def test_acpi_reboot(self):
        """A reboot without force calls libvirt's reboot."""
        instance_id, _ = self.create(start=True)
        domain = self.cell.libvirt.domain("nano-" + instance_id)
        reboots = []
        # The fake libvirt has no reboot: record the call on this domain.
        domain.reboot = reboots.append
        reply = self.successResultOf(
            self.cell.request(
                StopInstanceRequest(
                    task_id="t2", instance_id=instance_id, reboot=True
                )
            )
        )
        self.assertEqual(reply.state, "running")
        self.assertEqual(reboots, [0])

    def test_acpi_reboot_of_stopped_instance(self):
        """A reboot of a stopped domain fails with libvirt's reason."""
        instance_id, _ = self.create()
        domain = self.cell.libvirt.domain("nano-" + instance_id)

        def reboot(flags):
            raise libvirtError(
                "Requested operation is not valid: domain is not running",
                55,
            )

        domain.reboot = reboot
        self.fails(
            StopInstanceRequest(
                task_id="t2", instance_id=instance_id, reboot=True
            ),
            "reboot domain",
            "is not running",
        )

    def test_start_running_is_harmless(self):
        """Starting a running instance replies running, journals nothing."""
        instance_id, _ = self.create(start=True)
        events = len(self.cell.journal_types())
        reply = self.successResultOf(
            self.cell.request(
                StartInstanceRequest(task_id="t2", instance_id=instance_id)
            )
        )
        self.assertEqual(reply.state, "running")
        self.assertEqual(len(self.cell.journal_types()), events)

    def test_unknown_instance(self):
        """Requests for an unknown instance name it."""
        missing = new_id()
        for request in [
            StartInstanceRequest(task_id="t", instance_id=missing),
            StopInstanceRequest(task_id="t", instance_id=missing),
            GetInstanceStatusRequest(instance_id=missing),
        ]:
            self.fails(request, f"instance {missing} not found")

    def test_status(self):
        """Status describes the instance and its state."""
        instance_id, _ = self.create(start=True)
        reply = self.successResultOf(
            self.cell.request(
                GetInstanceStatusRequest(instance_id=instance_id)
            )
        )
        self.assertEqual(reply.instance["id"], instance_id)
        self.assertEqual(reply.instance["state"], "running")
        self.assertEqual(reply.instance["template"]["disk"], "virtio")
        self.assertEqual(reply.display["protocol"], "vnc")
        self.assertEqual(reply.display["address"], "127.0.0.1")
        self.assertEqual(len(reply.display["password"]), 8)

    def test_status_of_stopped_instance(self):
        """A stopped instance has no CPU time and no display."""
        instance_id, _ = self.create()
        reply = self.successResultOf(
            self.cell.request(
                GetInstanceStatusRequest(instance_id=instance_id)
            )
        )
        self.assertEqual(reply.cpu_time, 0)
        self.assertIsNone(reply.display)

    def test_domain_removed_outside_nano(self):
        """A start of an instance whose domain is gone says so."""
        instance_id, _ = self.create()
        self.cell.libvirt.domain("nano-" + instance_id).undefine()
        self.cell.run(1)
        self.assertEqual(self.cell.book.get(instance_id).state, "lost")
        self.fails(
            StartInstanceRequest(task_id="t", instance_id=instance_id),
            "it is lost",
        )


class DeleteTests(HandlerTestCase):
    """DeleteInstanceRequest."""

    def test_delete_running_instance(self):
        """Delete stops, undefines, removes volumes, then notifies Core."""
        instance_id, _ = self.create(start=True, disks=[GIB, GIB])
        reply = self.successResultOf(
            self.cell.request(
                DeleteInstanceRequest(task_id="t9", instance_id=instance_id)
            )
        )
        self.cell.run(3)
        self.assertEqual(reply.instance_id, instance_id)
        self.assert_nothing_left(instance_id)
        deleted = self.cell.core.of_type(InstanceDeleted)
        self.assertEqual(
            [(m.instance_id, m.task_id) for m in deleted],
            [(instance_id, "t9")],
        )
        self.assertEqual(self.cell.journal_types()[-1], "InstanceDeleted")
        self.assertEqual(self.cell.core.of_type(InstanceStopped), [])
        self.assertEqual(self.cell.book._locks, {})

    def test_delete_unknown_instance(self):
        """Deleting an instance the Cell lacks succeeds, journals nothing."""
        missing = new_id()
        reply = self.successResultOf(
            self.cell.request(
                DeleteInstanceRequest(task_id="t9", instance_id=missing)
            )
        )
        self.assertEqual(reply.instance_id, missing)
        self.assertEqual(self.cell.journal_types(), [])

    def test_delete_after_failed_create(self):
        """A compensating delete after a failed create succeeds."""
        instance_id = new_id()
        self.cell.storage.failures[f"{instance_id}-0"] = StorageFull(
            "No space left on device"
        )
        self.fails(create_request(instance_id), "No space left")
        self.successResultOf(
            self.cell.request(
                DeleteInstanceRequest(task_id="t9", instance_id=instance_id)
            )
        )
        self.assert_nothing_left(instance_id)

    def test_delete_removes_rollback_leftovers(self):
        """
        A volume the rollback could not delete is logged, and the delete
        that Core sends to compensate removes it.
        """
        instance_id = new_id()
        self.cell.storage.failures[f"{instance_id}-1"] = StorageFull(
            "No space left on device"
        )
        path = self.cell.storage.path(f"{instance_id}-0")
        unlink = os.unlink

        def unlink_fails(target):
            if target == path:
                raise PermissionError(13, "Permission denied")
            unlink(target)

        self.patch(os, "unlink", unlink_fails)
        with capturedLogs() as logged:
            self.fails(
                create_request(instance_id, disks=[GIB, GIB]), "No space"
            )
        errors = [e for e in logged if "rollback step" in str(e)]
        self.assertEqual(len(errors), 1)
        self.assertEqual(self.cell.storage.names(), [f"{instance_id}-0"])
        self.assertEqual(self.cell.journal_types()[-1], "InstanceCreateFailed")

        self.patch(os, "unlink", unlink)
        self.successResultOf(
            self.cell.request(
                DeleteInstanceRequest(task_id="t9", instance_id=instance_id)
            )
        )
        self.assert_nothing_left(instance_id)

    def test_delete_failure_can_be_repeated(self):
        """A volume that cannot be deleted fails; a retry finishes."""
        instance_id, _ = self.create()
        path = self.cell.storage.path(f"{instance_id}-0")
        unlink = os.unlink
        calls = []

        def unlink_once(target):
            if target == path and not calls:
                calls.append(target)
                raise PermissionError(13, "Permission denied")
            unlink(target)

        self.patch(os, "unlink", unlink_once)
        self.failureResultOf(
            self.cell.request(
                DeleteInstanceRequest(task_id="t9", instance_id=instance_id)
            ),
            RemoteError,
        )
        instance = self.cell.book.get(instance_id)
        self.assertEqual(instance.state, "deleting")
        self.assertEqual(self.cell.journal_types()[-1], "InstanceDeleteFailed")

        self.successResultOf(
            self.cell.request(
                DeleteInstanceRequest(task_id="t10", instance_id=instance_id)
            )
        )
        self.assert_nothing_left(instance_id)


class LifecycleTests(HandlerTestCase):
    """libvirt events change the journalled state and reach Core."""

    def test_guest_powers_off(self):
        """A guest that powers itself off is stopped within seconds."""
        instance_id, _ = self.create(start=True)
        self.cell.libvirt.domain("nano-" + instance_id).power_off_from_guest()
        self.cell.run(3)
        instance = self.cell.book.get(instance_id)
        self.assertEqual(instance.state, "stopped")
        self.assertEqual(instance.stop_reason, "shutdown")
        notices = self.cell.core.of_type(InstanceStopped)
        self.assertEqual(
            [(m.instance_id, m.reason) for m in notices],
            [(instance_id, "shutdown")],
        )

    def test_destroyed_outside_nano(self):
        """A domain destroyed with virsh is stopped, reason destroyed."""
        instance_id, _ = self.create(start=True)
        self.cell.libvirt.domain("nano-" + instance_id).destroy()
        self.cell.run(3)
        self.assertEqual(
            self.cell.book.get(instance_id).stop_reason, "destroyed"
        )

    def test_crash(self):
        """A crashed QEMU is recorded as stopped, reason crashed."""
        instance_id, _ = self.create(start=True)
        self.cell.libvirt.domain("nano-" + instance_id).crash()
        self.cell.run(3)
        self.assertEqual(
            self.cell.book.get(instance_id).stop_reason, "crashed"
        )

    def test_started_outside_nano(self):
        """A domain started with virsh is recorded running."""
        instance_id, _ = self.create()
        self.cell.libvirt.domain("nano-" + instance_id).create()
        self.cell.run(1)
        self.assertEqual(self.cell.book.get(instance_id).state, "running")
        started = self.cell.core.of_type(InstanceStarted)
        self.assertEqual([m.instance_id for m in started], [instance_id])

    def test_other_domains_ignored(self):
        """Events of domains that are not Nano's change nothing."""
        self.cell.libvirt.define(
            "<domain type='qemu'><name>other</name>"
            "<memory unit='KiB'>131072</memory><vcpu>1</vcpu>"
            "<os><type>hvm</type></os></domain>"
        )
        self.cell.libvirt.domain("other").create()
        self.cell.run(1)
        self.assertEqual(self.cell.journal_types(), [])

    def test_late_stop_event_ignored(self):
        """A STOPPED event that arrives after a restart changes nothing."""
        instance_id, _ = self.create(start=True)
        events = len(self.cell.journal_types())
        self.cell.parts.service.lifecycle.domain_event(
            DomainEvent(
                "nano-" + instance_id,
                instance_id,
                LifecycleEvent.STOPPED,
                "destroyed",
            )
        )
        self.cell.run(1)
        self.assertEqual(self.cell.book.get(instance_id).state, "running")
        self.assertEqual(len(self.cell.journal_types()), events)

    def test_event_waits_for_request(self):
        """An event during a request is applied after the request ends."""
        instance_id, _ = self.create(start=True)
        lock = self.cell.book.lock(instance_id)
        self.successResultOf(lock.acquire())
        self.cell.libvirt.domain("nano-" + instance_id).destroy()
        self.cell.run(3)
        self.assertEqual(self.cell.book.get(instance_id).state, "running")
        lock.release()
        self.cell.run(1)
        self.assertEqual(self.cell.book.get(instance_id).state, "stopped")
