"""Tests of the guest routes and the create saga, with fake Cells."""

from cluster_helpers import CORE_ADDRESS, GIB
from guest_helpers import GuestTestCase

from nano.core._saga import MAX_TRIES, RETRY_DELAY
from nano.projections import CoreProjection, LiveProjection, load
from nano.projections.guests import GuestProjection


class CreateGuestTests(GuestTestCase):
    """POST /guests/ and the saga it starts."""

    def setUp(self):
        super().setUp()
        self.cell = self.add_instance_cell("Cell_1")

    def test_create_replies_202_then_starts(self):
        """
        The reply is 202 with the new id; the Cell then gets the create
        and start requests, and the guest shows as created and running.
        """
        reply = self.create()
        self.assertEqual(reply.status, 202)
        self.assertEqual(reply.data, {"id": "g1"})
        self.advance(1)
        self.assertEqual(
            [message.type_name for message in self.cell.received],
            ["CreateInstanceRequest", "StartInstanceRequest"],
        )
        self.assertEqual(self.cell.hosted["g1"]["state"], "running")
        data = self.guest("g1")
        self.assertEqual(data["created"], True)
        self.assertEqual(data["running"], True)
        self.assertEqual(data["cell"], "Cell_1")
        self.assertEqual(data["disks"], [10 * GIB])
        self.assertEqual(data["system"], "linux")

    def test_create_sends_device_set(self):
        """The Cell gets the size and device set of the guest."""
        self.create(cores=4, memory=4 * GIB, disks=[GIB, 2 * GIB])
        self.advance(1)
        request = self.cell.received[0]
        self.assertEqual(
            (request.cores, request.memory, list(request.disks)),
            (4, 4 * GIB, [GIB, 2 * GIB]),
        )
        self.assertEqual(request.template["disk"], "scsi")
        self.assertEqual(request.instance_id, "g1")

    def test_progress_while_the_cell_creates(self):
        """A guest being created shows its progress, not yet created."""
        self.cell.hold.add("CreateInstanceRequest")
        self.create()
        self.advance(1)
        data = self.guest("g1")
        self.assertEqual(data["created"], False)
        self.assertEqual(data["progress"], 33)

    def test_no_auto_start_stays_stopped(self):
        """auto_start false creates the instance and does not start it."""
        self.create(auto_start=False)
        self.advance(1)
        self.assertEqual(self.cell.hosted["g1"]["state"], "stopped")
        self.assertEqual(self.guest("g1")["created"], True)

    def test_the_created_guest_is_in_the_journal(self):
        """A fresh load of the journal shows the created guest."""
        self.create()
        self.advance(1)
        guests = load(GuestProjection(), self.journal).state
        self.assertEqual(guests["g1"].status, "created")
        self.assertEqual(guests["g1"].steps, ("reserve", "create", "start"))

    def test_duplicate_name_in_the_pool(self):
        """A second guest of the same name in the pool gets 409."""
        self.create()
        self.advance(1)
        self.assert_error(self.create(), 409, "'vm1' already exists")

    def test_invalid_fields(self):
        """Each invalid field gets a 400 naming it."""
        cases = [
            ({"name": "a b"}, "invalid guest name 'a b'"),
            ({"owner": ""}, "invalid owner name"),
            ({"group": 3}, "invalid group 3"),
            ({"pool": "nope"}, "invalid pool 'nope'"),
            ({"cores": 0}, "invalid cores 0"),
            ({"cores": True}, "invalid cores True"),
            ({"memory": 1024}, "invalid memory 1024"),
            ({"disks": []}, "invalid disks []"),
            ({"disks": [10]}, "invalid disk size 10"),
            ({"template": "t9"}, "invalid template 't9'"),
            ({"auto_start": "yes"}, 'invalid auto_start "yes"'),
            ({"colour": "red"}, "unknown field 'colour'"),
        ]
        for fields, message in cases:
            with self.subTest(fields=fields):
                self.assert_error(self.create(**fields), 400, message)
        self.assertEqual(self.cell.received, [])

    def test_missing_field(self):
        """A missing required field gets a 400 naming it."""
        reply = self.call(
            "POST", "/api/v1/guests/", {"name": "vm1", "owner": "admin"}
        )
        self.assert_error(reply, 400, "missing field 'group'")

    def test_no_cell_fits(self):
        """With no Cell that fits, the reply names each Cell's reason."""
        self.add_instance_cell("Cell_2", memory_available=GIB)
        self.cells["Cell_1"].report(cores=1)
        self.advance(0.1)
        reply = self.create(memory=2 * GIB)
        self.assert_error(
            reply,
            503,
            "Cell_1: has 1 cores, fewer than 2",
            "Cell_2: has 1073741824 bytes of memory available",
        )

    def test_reservation_counts_before_report(self):
        """
        A guest being created counts against its Cell, so the next
        guest goes elsewhere when the first one filled it.
        """
        self.cell.report(memory_available=3 * GIB)
        self.advance(0.1)
        self.cell.hold.add("CreateInstanceRequest")
        self.create(name="vm1")
        self.advance(1)
        self.assert_error(self.create(name="vm2"), 503, "Cell_1: has")

    def test_listed_guest_not_counted_twice(self):
        """
        A guest its Cell lists is in the Cell's own figures, so it is
        not counted again.
        """
        self.cell.report(memory_available=3 * GIB)
        self.advance(0.1)
        self.create(name="vm1")
        self.advance(1)
        self.assertIn("g1", self.cluster.cell("Cell_1").instances)
        self.assertEqual(self.create(name="vm2").status, 202)


class RollbackTests(GuestTestCase):
    """A create saga cut short leaves nothing behind."""

    def setUp(self):
        super().setUp()
        self.cell = self.add_instance_cell("Cell_1")

    def tearDown(self):
        # The fake Cell's session logs the errors it replies.
        self.flushLoggedErrors(RuntimeError, KeyError)
        super().tearDown()

    def assert_rolled_back(self, guest_id, *fragments):
        data = self.guest(guest_id)
        self.assertEqual(data["created"], False)
        self.assertEqual(data["status"], "rolled back")
        for fragment in fragments:
            self.assertIn(fragment, data["error"])
        self.assertEqual(self.cell.hosted, {})

    def test_cell_error_mid_create(self):
        """
        A Cell that fails the start has the created instance deleted,
        and the guest shows the error.
        """
        self.cell.fail["StartInstanceRequest"] = "no space left"
        self.create()
        self.advance(1)
        self.assert_rolled_back("g1", "step start failed", "no space left")
        self.assertEqual(
            self.cell.received[-1].type_name, "DeleteInstanceRequest"
        )

    def test_cell_rejects_the_create(self):
        """A rejected create is undone too, because it may have begun."""
        self.cell.fail["CreateInstanceRequest"] = "cannot write volume"
        self.create()
        self.advance(1)
        self.assert_rolled_back("g1", "cannot write volume")
        self.assertEqual(
            [message.type_name for message in self.cell.received],
            ["CreateInstanceRequest", "DeleteInstanceRequest"],
        )

    def test_rolled_back_name_is_free(self):
        """A rolled back guest leaves its name free for a new one."""
        self.cell.fail["CreateInstanceRequest"] = "cannot write volume"
        self.create()
        self.advance(1)
        del self.cell.fail["CreateInstanceRequest"]
        reply = self.create()
        self.assertEqual(reply.status, 202, reply.message)

    def test_a_rolled_back_guest_can_be_deleted(self):
        """Deleting a rolled back guest forgets it."""
        self.cell.fail["CreateInstanceRequest"] = "cannot write volume"
        self.create()
        self.advance(1)
        self.assert_ok(self.call("DELETE", "/api/v1/guests/g1"))
        reply = self.call("GET", "/api/v1/guests/g1")
        self.assert_error(reply, 404, "guest 'g1' not found")

    def test_cell_lost_mid_create(self):
        """
        A Cell that vanishes while creating fails the saga; its rollback
        waits for the Cell to come back, then deletes the instance.
        """
        self.cell.hold.add("CreateInstanceRequest")
        self.create()
        self.advance(1)
        self.cell.hosted["g1"] = {"id": "g1", "state": "stopped"}
        self.cell.stop()
        self.advance(150)
        self.assertEqual(self.guest("g1")["status"], "failed")
        self.cell.hold.clear()
        self.cell.attach()
        self.cell.connect()
        self.advance(RETRY_DELAY * 3)
        self.assert_rolled_back("g1", "step create failed")

    def test_core_restart_mid_create(self):
        """
        A Core restarted while a guest is being created marks it failed,
        and deletes its instance once the Cell reconnects.
        """
        self.cell.hold.add("CreateInstanceRequest")
        self.create()
        self.advance(1)
        self.cell.hosted["g1"] = {"id": "g1", "state": "stopped"}
        self.restart_core()
        self.cell.hold.clear()
        self.advance(RETRY_DELAY * 4)
        self.assert_rolled_back("g1", "Core restarted")
        guests = load(GuestProjection(), self.journal).state
        self.assertEqual(guests["g1"].status, "rolled back")

    def test_rollback_gives_up_eventually(self):
        """A Cell that never returns leaves the guest failed, not lost."""
        self.cell.hold.add("CreateInstanceRequest")
        self.create()
        self.advance(1)
        self.cell.stop()
        self.advance(150 + RETRY_DELAY * (MAX_TRIES + 1))
        self.assertEqual(self.guest("g1")["status"], "failed")
        self.assertEqual(self.api.guests.sagas, {})

    def restart_core(self):
        """Drop Core's fabric and API, and build them again."""
        self.api.guests.stop()
        self.network.detach(CORE_ADDRESS)
        self.live = LiveProjection(CoreProjection(), self.journal)
        self.start_core()
