"""Tests of the address step of the guest create saga, with fake Cells."""

from cluster_helpers import CORE_ADDRESS
from guest_helpers import GuestTestCase
from twisted.internet.defer import Deferred

from nano.core._addresses import Addresses
from nano.core._saga import RETRY_DELAY
from nano.events import utc_time
from nano.events.addresses import AddressAllocated
from nano.projections import CoreProjection, LiveProjection, load

LAN = "/api/v1/address_pools/lan"


class GuestAddressTests(GuestTestCase):
    """Guests of a compute pool with an address pool get an address."""

    def setUp(self):
        super().setUp()
        self.assert_ok(
            self.call(
                "POST",
                LAN,
                {"gateway": "10.213.7.1", "dns": ["10.213.7.53"]},
            )
        )
        self.assert_ok(
            self.call(
                "POST",
                LAN + "/internal/ranges/10.213.7.10",
                {"end": "10.213.7.12", "netmask": "255.255.255.0"},
            )
        )
        self.assert_ok(
            self.call("PUT", "/api/v1/compute_pools/p1", {"network": "lan"})
        )
        self.cell = self.add_instance_cell("Cell_1")

    def tearDown(self):
        # The fake Cell's session logs the errors it replies.
        self.flushLoggedErrors(RuntimeError, KeyError)
        super().tearDown()

    def created(self, name):
        """Create a guest and let its saga run; return its id."""
        reply = self.create(name=name)
        self.assertEqual(reply.status, 202, reply.message)
        self.advance(1)
        return reply.data["id"]

    def allocations(self):
        """Return the allocated addresses by guest, as on disk."""
        state = load(CoreProjection(), self.journal).state
        return dict(state.addresses.instances)

    def test_create_request_has_network(self):
        """The Cell gets the allocated address with the pool's settings."""
        guest_id = self.created("vm1")
        request = self.cell.received[0]
        self.assertEqual(request.type_name, "CreateInstanceRequest")
        self.assertEqual(
            request.network,
            {
                "address": "10.213.7.10",
                "prefix": 24,
                "gateway": "10.213.7.1",
                "dns": ["10.213.7.53"],
                "provider": "dhcp",
            },
        )
        self.assertEqual(self.allocations(), {guest_id: "10.213.7.10"})

    def test_get_guest_shows_address(self):
        """GET /guests/<id> shows the address and the MAC."""
        guest_id = self.created("vm1")
        data = self.guest(guest_id)
        self.assertEqual(
            data["internal"], {"allocated_address": "10.213.7.10"}
        )
        self.assertEqual(data["ethernet_address"], self.cell.received[0].mac)
        pool = self.call("GET", LAN).data
        self.assertEqual(
            pool["allocated"],
            [{"address": "10.213.7.10", "instance": guest_id}],
        )

    def test_saga_has_address_step(self):
        """The address step comes between reserve and create."""
        guest_id = self.created("vm1")
        steps = self.api.guests.state[guest_id].steps
        self.assertEqual(steps, ("reserve", "address", "create", "start"))

    def test_guests_get_different_addresses(self):
        """Each guest gets the lowest free address."""
        first = self.created("vm1")
        second = self.created("vm2")
        self.assertEqual(
            self.allocations(),
            {first: "10.213.7.10", second: "10.213.7.11"},
        )

    def test_full_pool_rejected(self):
        """A guest of a full address pool gets 409 and nothing starts."""
        for name in ["vm1", "vm2", "vm3"]:
            self.created(name)
        requests = len(self.cell.received)
        reply = self.create(name="vm4")
        self.assertEqual(reply.status, 409)
        self.assertIn("no free address", reply.message)
        self.advance(1)
        self.assertEqual(len(self.cell.received), requests)

    def test_full_pool_in_saga_rolls_back(self):
        """A guest whose address was taken after Core accepted it (two
        creates racing for the last one) is rolled back before the Cell
        is asked for anything."""
        for name in ["vm1", "vm2", "vm3"]:
            self.created(name)
        requests = len(self.cell.received)
        # As if the check had run before another create took the address.
        self.patch(Addresses, "check_free", lambda self, pool: None)
        guest_id = self.created("vm4")
        data = self.guest(guest_id)
        self.assertEqual(data["status"], "rolled back")
        self.assertIn("no free address", data["error"])
        self.assertNotIn(guest_id, self.allocations())
        creates = [
            message
            for message in self.cell.received[requests:]
            if message.type_name == "CreateInstanceRequest"
        ]
        self.assertEqual(creates, [])

    def test_rollback_releases_address(self):
        """A failed create gives its address back to the pool."""
        self.cell.fail["CreateInstanceRequest"] = "cannot write volume"
        failed = self.created("vm1")
        self.assertEqual(self.guest(failed)["status"], "rolled back")
        self.assertEqual(self.allocations(), {})
        del self.cell.fail["CreateInstanceRequest"]
        second = self.created("vm2")
        self.assertEqual(self.allocations(), {second: "10.213.7.10"})

    def test_delete_releases_address(self):
        """Deleting a guest frees its address for the next guest."""
        first = self.created("vm1")
        self.assert_ok(self.call("DELETE", f"/api/v1/guests/{first}"))
        self.assertEqual(self.allocations(), {})
        second = self.created("vm2")
        self.assertEqual(self.allocations(), {second: "10.213.7.10"})

    def test_core_restart_mid_create_releases(self):
        """A Core restarted during a create rolls it back and frees the
        address it had allocated."""
        self.cell.hold.add("CreateInstanceRequest")
        self.create(name="vm1")
        self.advance(1)
        self.assertEqual(self.allocations(), {"g1": "10.213.7.10"})
        self.restart_core()
        self.cell.hold.clear()
        self.advance(RETRY_DELAY * 4)
        self.assertEqual(self.guest("g1")["status"], "rolled back")
        self.assertEqual(self.allocations(), {})

    def test_restart_after_allocation_only(self):
        """
        A Core killed after recording the address but before the step
        was done rolls back "create" too, and releases the address.
        """
        allocate = self.api.addresses.allocate

        def allocate_then_hang(*arguments):
            allocate(*arguments)
            return Deferred()

        self.api.addresses.allocate = allocate_then_hang
        self.create(name="vm1")
        self.advance(1)
        self.assertEqual(self.api.guests.state["g1"].steps, ("reserve",))
        self.assertEqual(self.allocations(), {"g1": "10.213.7.10"})
        self.restart_core()
        self.advance(RETRY_DELAY * 4)
        self.assertEqual(self.guest("g1")["status"], "rolled back")
        self.assertEqual(
            self.cell.received[-1].type_name, "DeleteInstanceRequest"
        )
        self.assertEqual(self.allocations(), {})

    def test_start_releases_orphaned_address(self):
        """An address whose guest is gone is released when Core starts."""
        kept = self.created("vm1")
        orphan = AddressAllocated(
            aggregate_id="lan",
            time=utc_time(self.clock.seconds()),
            address="10.213.7.12",
            instance="gone",
        )
        recorded = self.live.record(orphan)
        self.advance(0.1)
        self.successResultOf(recorded)
        self.restart_core()
        self.advance(0.1)
        self.assertEqual(self.allocations(), {kept: "10.213.7.10"})

    def restart_core(self):
        """Drop Core's fabric and API, and build them again."""
        self.api.guests.stop()
        self.network.detach(CORE_ADDRESS)
        self.live = LiveProjection(CoreProjection(), self.journal)
        self.start_core()
