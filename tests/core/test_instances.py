"""Tests of the instance routes and guest deletion, with fake Cells."""

from guest_helpers import GuestTestCase


class InstanceTests(GuestTestCase):
    """GET, POST and DELETE /instances/<id>, and DELETE /guests/<id>."""

    def setUp(self):
        super().setUp()
        self.cell = self.add_instance_cell("Cell_1")
        self.create(auto_start=False)
        self.advance(1)

    def tearDown(self):
        # The fake Cell's session logs the errors it replies.
        self.flushLoggedErrors(RuntimeError, KeyError)
        super().tearDown()

    def test_status_comes_from_the_cell(self):
        """GET /instances/<id> shows the state the Cell reports."""
        reply = self.call("GET", "/api/v1/instances/g1")
        self.assert_ok(reply)
        self.assertEqual(
            (reply.data["state"], reply.data["running"]), ("stopped", False)
        )
        self.cell.hosted["g1"]["state"] = "running"
        reply = self.call("GET", "/api/v1/instances/g1")
        self.assertEqual(reply.data["running"], True)

    def test_start_and_stop(self):
        """POST starts the instance, DELETE stops it, with its flags."""
        self.assert_ok(self.call("POST", "/api/v1/instances/g1", {}), "")
        self.assertEqual(self.cell.hosted["g1"]["state"], "running")
        self.assertEqual(self.guest("g1")["running"], True)
        reply = self.call(
            "DELETE", "/api/v1/instances/g1", {"reboot": False, "force": True}
        )
        self.assert_ok(reply, "")
        stop = self.cell.received[-1]
        self.assertEqual((stop.reboot, stop.force), (False, True))
        self.assertEqual(self.cell.hosted["g1"]["state"], "stopped")
        self.assertEqual(self.guest("g1")["running"], False)

    def test_invalid_stop_flags(self):
        """A stop flag that is not a boolean gets a 400 naming it."""
        reply = self.call("DELETE", "/api/v1/instances/g1", {"force": 1})
        self.assert_error(reply, 400, "invalid force 1")
        reply = self.call("DELETE", "/api/v1/instances/g1", {"halt": True})
        self.assert_error(reply, 400, "unknown field 'halt'")

    def test_boot_from_media_needs_source(self):
        """A boot from media without a source is rejected."""
        reply = self.call("POST", "/api/v1/instances/g1", {"from_media": True})
        self.assert_error(reply, 400, "missing field 'source'")

    def test_boot_from_network_rejected(self):
        """A boot from the network is rejected as not supported."""
        body = {"from_network": True}
        reply = self.call("POST", "/api/v1/instances/g1", body)
        self.assert_error(reply, 400, "invalid from_network true")

    def test_cell_rejection_conflict(self):
        """An error from the Cell gets a 409 with its message."""
        self.cell.fail["StartInstanceRequest"] = "already running"
        reply = self.call("POST", "/api/v1/instances/g1")
        self.assert_error(
            reply, 409, "Cell Cell_1 rejected the request", "already running"
        )

    def test_cell_gone(self):
        """A Cell that is not connected gets a 503 naming it."""
        self.cell.stop()
        self.advance(60)
        reply = self.call("GET", "/api/v1/instances/g1")
        self.assert_error(reply, 503, "Cell Cell_1 of guest g1")

    def test_unknown_instance(self):
        """An unknown id gets a 404."""
        reply = self.call("GET", "/api/v1/instances/nope")
        self.assert_error(reply, 404, "instance 'nope' not found")

    def test_instance_being_created(self):
        """A guest not created yet has no instance to power."""
        self.cell.hold.add("CreateInstanceRequest")
        guest_id = self.create(name="vm2").data["id"]
        self.advance(1)
        reply = self.call("POST", f"/api/v1/instances/{guest_id}")
        self.assert_error(reply, 409, "is not created (it is creating)")

    def test_delete_guest(self):
        """DELETE /guests/<id> deletes on the Cell, then forgets it."""
        self.assert_ok(self.call("DELETE", "/api/v1/guests/g1"), "")
        self.assertEqual(self.cell.hosted, {})
        reply = self.call("GET", "/api/v1/guests/g1")
        self.assert_error(reply, 404, "guest 'g1' not found")

    def test_delete_guest_cell_fails(self):
        """A Cell that fails the delete leaves the guest in place."""
        self.cell.fail["DeleteInstanceRequest"] = "disk busy"
        reply = self.call("DELETE", "/api/v1/guests/g1")
        self.assert_error(reply, 409, "disk busy")
        self.assertEqual(self.guest("g1")["created"], True)

    def test_delete_while_creating(self):
        """A guest being created cannot be deleted yet."""
        self.cell.hold.add("CreateInstanceRequest")
        guest_id = self.create(name="vm2").data["id"]
        self.advance(1)
        reply = self.call("DELETE", f"/api/v1/guests/{guest_id}")
        self.assert_error(reply, 409, f"guest {guest_id} is being created")

    def test_search(self):
        """GET /guest_search/ filters by pool, cell, owner and group."""
        self.create(name="vm2", owner="bob")
        self.advance(1)
        reply = self.call("GET", "/api/v1/guest_search/?owner=bob")
        self.assert_ok(reply)
        self.assertEqual([guest["name"] for guest in reply.data], ["vm2"])
        reply = self.call("GET", "/api/v1/guest_search/?pool=p1&cell=Cell_1")
        self.assertEqual(len(reply.data), 2)
        reply = self.call("GET", "/api/v1/guest_search/?colour=red")
        self.assert_error(reply, 400, "unknown filter 'colour'")
