"""
Tests of the routes that change a created guest: its name, cores,
memory and autostart, with fake Cells.
"""

from api_helpers import HOST
from cluster_helpers import GIB
from guest_helpers import GuestTestCase

from nano.events.guests import GuestCoresChanged, GuestMemoryChanged
from nano.messages import ModifyInstanceRequest
from nano.projections import load
from nano.projections.guests import GuestProjection


class GuestChangeTests(GuestTestCase):
    """PUT /guests/<id>/name/, cores, memory and auto_start."""

    def setUp(self):
        super().setUp()
        self.cell = self.add_instance_cell("Cell_1")
        self.create(auto_start=False)
        self.advance(1)

    def tearDown(self):
        # The fake Cell's session logs the errors it replies.
        self.flushLoggedErrors(RuntimeError, KeyError)
        super().tearDown()

    def put(self, what, body):
        return self.call("PUT", f"/api/v1/guests/g1/{what}", body)

    def modify_requests(self):
        return [
            m for m in self.cell.received if type(m) is ModifyInstanceRequest
        ]

    def journalled(self, event_type):
        return [
            event
            for _, event in self.journal.read()
            if type(event) is event_type
        ]

    def test_rename(self):
        """A new name shows at once, and the Cell is not asked."""
        self.assert_ok(self.put("name/", {"name": "web-1"}), "")
        self.assertEqual(self.guest("g1")["name"], "web-1")
        self.assertEqual(self.modify_requests(), [])

    def test_rename_to_a_taken_name(self):
        """A name another guest of the pool has gets a 409."""
        self.create(name="vm2")
        self.advance(1)
        reply = self.put("name/", {"name": "vm2"})
        self.assert_error(reply, 409, "guest 'vm2' already exists")
        self.assertEqual(self.guest("g1")["name"], "vm1")

    def test_rename_invalid(self):
        """An invalid or missing name gets a 400 naming the field."""
        self.assert_error(
            self.put("name/", {"name": "a b"}), 400, "invalid guest name"
        )
        self.assert_error(self.put("name/", {}), 400, "name")
        self.assert_error(
            self.put("name/", {"name": "x", "size": 1}),
            400,
            "unknown field 'size'",
        )

    def test_cores(self):
        """New cores are journalled, then sent to the Cell."""
        reply = self.put("cores", {"cores": 4, "immediate": True})
        self.assert_ok(reply, "")
        self.assertEqual(self.guest("g1")["cores"], 4)
        (request,) = self.modify_requests()
        self.assertEqual(
            (request.cores, request.memory, request.immediate),
            (4, None, True),
        )
        self.assertEqual(self.cell.hosted["g1"]["cores"], 4)
        self.assertEqual(
            [e.cores for e in self.journalled(GuestCoresChanged)], [4]
        )

    def test_memory(self):
        """New memory goes to the Cell; immediate defaults to false."""
        self.assert_ok(self.put("memory", {"memory": 4 * GIB}), "")
        self.assertEqual(self.guest("g1")["memory"], 4 * GIB)
        (request,) = self.modify_requests()
        self.assertEqual((request.memory, request.immediate), (4 * GIB, False))

    def test_auto_start(self):
        """The autostart flag goes to the Cell."""
        self.assert_ok(self.put("auto_start", {"enable": True}), "")
        self.assertEqual(self.guest("g1")["auto_start"], True)
        (request,) = self.modify_requests()
        self.assertEqual((request.auto_start, request.cores), (True, None))

    def test_invalid_values(self):
        """Each invalid value gets a 400 naming its field."""
        cases = [
            ("cores", {"cores": 0}, "invalid cores 0"),
            ("cores", {"cores": "2"}, "invalid cores '2'"),
            ("cores", {"cores": 2, "immediate": 1}, "invalid immediate 1"),
            ("cores", {}, "cores"),
            ("memory", {"memory": 1024}, "invalid memory 1024"),
            ("memory", {"memory": True}, "invalid memory True"),
            ("auto_start", {"enable": "yes"}, 'invalid enable "yes"'),
            ("auto_start", {"on": True}, "unknown field 'on'"),
        ]
        for what, body, fragment in cases:
            self.assert_error(self.put(what, body), 400, fragment)
        self.assertEqual(self.modify_requests(), [])

    def test_change_must_fit_the_cell(self):
        """
        More cores than the Cell has, or more memory growth than it has
        free, gets a 409 and nothing is sent.
        """
        reply = self.put("cores", {"cores": 9})
        self.assert_error(reply, 409, "Cell Cell_1 of guest g1 has 8 cores")
        reply = self.put("memory", {"memory": 27 * GIB})
        self.assert_error(reply, 409, "grow by 26843545600")
        self.assertEqual(self.modify_requests(), [])
        self.assert_ok(self.put("memory", {"memory": 26 * GIB}), "")

    def test_cell_refusal_is_compensated(self):
        """
        A Cell that refuses a change gets a 409 with its message, and the
        old value is journalled back.
        """
        self.cell.fail["ModifyInstanceRequest"] = "no CPU hotplug"
        reply = self.put("cores", {"cores": 8, "immediate": True})
        self.assert_error(
            reply, 409, "Cell Cell_1 rejected the request", "no CPU hotplug"
        )
        self.assertEqual(self.guest("g1")["cores"], 2)
        self.assertEqual(
            [e.cores for e in self.journalled(GuestCoresChanged)], [8, 2]
        )

    def test_concurrent_changes_run_in_turn(self):
        """
        A change waits for the one before it, so the compensation of a
        rejected change does not undo the next one.
        """
        handle = self.cell._modify

        def reject_eight(peer, message):
            self.cell.received.append(message)
            if message.cores == 8:
                raise RuntimeError("8 cores do not fit")
            return handle(message)

        self.cell.session.handle(ModifyInstanceRequest, reject_eight)
        first = self.start_put("cores", {"cores": 8})
        second = self.start_put("cores", {"cores": 4})
        self.advance(1)
        self.stub.flush()
        self.assertEqual(self.successResultOf(first).code, 409)
        self.assertEqual(self.successResultOf(second).code, 200)
        self.assertEqual(self.guest("g1")["cores"], 4)
        self.assertEqual(self.cell.hosted["g1"]["cores"], 4)
        self.assertEqual(
            [e.cores for e in self.journalled(GuestCoresChanged)], [8, 2, 4]
        )

    def start_put(self, what, body):
        """Send a signed PUT; return its response's Deferred at once."""
        started = []

        def send(method, path, headers, data=b""):
            url = f"http://{HOST}{path}"
            started.append(
                self.stub.request(method, url, headers=headers, data=data)
            )

        self.send = send
        try:
            self.put(what, body)
        finally:
            del self.send
        return started[0]

    def test_cell_gets_old_values_back(self):
        """
        A Cell that applied a change but failed the request gets the old
        values sent back, so it agrees with Core's journal.
        """
        handle = self.cell._modify
        failed = []

        def apply_then_fail(peer, message):
            self.cell.received.append(message)
            handle(message)
            if not failed:
                failed.append(message)
                raise RuntimeError("reply lost")
            return handle(message)

        self.cell.session.handle(ModifyInstanceRequest, apply_then_fail)
        reply = self.put("memory", {"memory": 4 * GIB, "immediate": True})
        self.assert_error(reply, 409, "reply lost")
        restore = self.modify_requests()[-1]
        self.assertEqual((restore.memory, restore.immediate), (2 * GIB, True))
        self.assertEqual(self.cell.hosted["g1"]["memory"], 2 * GIB)

    def test_memory_refusal_survives_a_restart(self):
        """The journalled compensation is what a restarted Core folds."""
        self.cell.fail["ModifyInstanceRequest"] = "balloon stuck"
        self.assert_error(self.put("memory", {"memory": 8 * GIB}), 409)
        self.assertEqual(len(self.journalled(GuestMemoryChanged)), 2)
        guests = load(GuestProjection(), self.journal).state
        self.assertEqual(guests["g1"].memory, 2 * GIB)

    def test_cell_gone(self):
        """A Cell that is not connected gets a 503, nothing journalled."""
        self.cell.stop()
        self.advance(60)
        reply = self.put("memory", {"memory": 4 * GIB})
        self.assert_error(reply, 503, "Cell Cell_1 of guest g1")
        self.assertEqual(self.journalled(GuestMemoryChanged), [])

    def test_unknown_and_uncreated_guests(self):
        """An unknown guest gets a 404, one being created a 409."""
        reply = self.call("PUT", "/api/v1/guests/nope/cores", {"cores": 2})
        self.assert_error(reply, 404, "guest 'nope' not found")
        self.cell.hold.add("CreateInstanceRequest")
        guest_id = self.create(name="vm2").data["id"]
        self.advance(1)
        reply = self.call(
            "PUT", f"/api/v1/guests/{guest_id}/name/", {"name": "vm3"}
        )
        self.assert_error(reply, 409, "is not created (it is creating)")
