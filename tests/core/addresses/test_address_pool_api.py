"""Core's API: address pools and their ranges."""

import orjson
from api_helpers import HOST, ApiTestCase

from nano.events import utc_time
from nano.events.addresses import AddressAllocated
from nano.signing import Request

ADDRESS_POOLS = "/api/v1/address_pools/"
POOLS = "/api/v1/compute_pools/"
LAN = {
    "gateway": "10.213.7.1",
    "dns": ["10.213.7.1", "10.213.0.53"],
    "provider": "dhcp",
}
MASK = "255.255.255.0"


class AddressPoolTestCase(ApiTestCase):
    """Helpers to create pools and ranges through the API."""

    def create(self, name="lan", body=None):
        reply = self.call("POST", ADDRESS_POOLS + name, body or LAN)
        self.assert_ok(reply, "")

    def add_range(self, start, end, pool="lan", kind="internal", mask=MASK):
        path = f"{ADDRESS_POOLS}{pool}/{kind}/ranges/{start}"
        return self.call("POST", path, {"end": end, "netmask": mask})

    def allocate(self, address, instance, pool="lan"):
        """Record an allocation as the allocator does."""
        event = AddressAllocated(
            aggregate_id=pool,
            time=utc_time(self.clock.seconds()),
            address=address,
            instance=instance,
        )
        recorded = self.live.record(event)
        self.clock.advance(0)
        self.successResultOf(recorded)


class PoolTests(AddressPoolTestCase):
    """Create, read, modify and delete address pools."""

    def test_create_and_get(self):
        """A new pool has its settings, no ranges and no allocations."""
        self.create()
        reply = self.call("GET", ADDRESS_POOLS + "lan")
        self.assert_ok(
            reply,
            {
                "name": "lan",
                "gateway": "10.213.7.1",
                "dns": ["10.213.7.1", "10.213.0.53"],
                "provider": "dhcp",
                "mode": "internal",
                "ranges": [],
                "allocated": [],
            },
        )
        pool = self.reloaded_state().addresses.pools["lan"]
        self.assertEqual(pool.gateway, "10.213.7.1")

    def test_create_defaults(self):
        """Only the gateway is required: no DNS, dhcp, internal."""
        self.create("bare", {"gateway": "10.213.8.1"})
        pool = self.reloaded_state().addresses.pools["bare"]
        self.assertEqual(pool.dns, ())
        self.assertEqual(pool.provider, "dhcp")
        self.assertEqual(pool.mode, "internal")

    def test_list(self):
        """The list shows each pool's capacity and allocation count."""
        self.create("lan")
        self.create("dmz", {"gateway": "10.213.9.1", "mode": "external"})
        self.assert_ok(self.add_range("10.213.7.10", "10.213.7.19"))
        self.assert_ok(
            self.add_range("10.213.9.1", "10.213.9.5", "dmz", "external")
        )
        self.allocate("10.213.7.10", "i-1")
        reply = self.call("GET", ADDRESS_POOLS)
        self.assert_ok(reply)
        by_name = {pool["name"]: pool for pool in reply.data}
        self.assertEqual([pool["name"] for pool in reply.data], ["dmz", "lan"])
        self.assertEqual(by_name["lan"]["addresses"], 10)
        self.assertEqual(by_name["lan"]["allocated"], 1)
        # 10.213.9.1 is dmz's gateway, so 4 of the 5 can be allocated.
        self.assertEqual(by_name["dmz"]["addresses"], 4)
        self.assertEqual(by_name["dmz"]["allocated"], 0)

    def test_create_existing(self):
        """Creating a pool that exists gets 409."""
        self.create()
        reply = self.call("POST", ADDRESS_POOLS + "lan", LAN)
        self.assert_error(reply, 409, "address pool 'lan' already exists")

    def test_invalid_create_bodies(self):
        """Each invalid field gets 400 naming it and what is accepted."""
        cases = [
            ({}, "missing field 'gateway'"),
            ({"gateway": "10.213.7"}, "invalid gateway '10.213.7'"),
            ({"gateway": 7}, "invalid gateway 7"),
            ({**LAN, "dns": "10.213.7.1"}, "invalid dns '10.213.7.1'"),
            ({**LAN, "dns": ["x"]}, "invalid dns 'x'"),
            ({**LAN, "dns": ["10.213.0.1"] * 9}, "at most 8"),
            ({**LAN, "provider": "static"}, "must be one of dhcp, cloudinit"),
            ({**LAN, "mode": "both"}, "invalid mode 'both'"),
            ({**LAN, "mode": "nat"}, "must be one of internal, external"),
            ({**LAN, "vlan": 3}, "unknown field 'vlan'"),
        ]
        for body, fragment in cases:
            with self.subTest(body=body):
                reply = self.call("POST", ADDRESS_POOLS + "lan", body)
                self.assert_error(reply, 400, fragment)
        self.assertEqual(dict(self.reloaded_state().addresses.pools), {})

    def test_invalid_name(self):
        """A name outside the allowed characters gets 400."""
        reply = self.call("POST", ADDRESS_POOLS + "-lan", LAN)
        self.assert_error(reply, 400, "invalid address pool name '-lan'")

    def test_get_missing(self):
        """An unknown pool gets 404 on every route."""
        added = {"end": "10.213.7.11", "netmask": MASK}
        for method, path, body in [
            ("GET", "nope", None),
            ("PUT", "nope", {"provider": "dhcp"}),
            ("DELETE", "nope", None),
            ("GET", "nope/internal/ranges/", None),
            ("POST", "nope/internal/ranges/10.213.7.10", added),
            ("DELETE", "nope/internal/ranges/10.213.7.10", None),
        ]:
            with self.subTest(method=method, path=path):
                reply = self.call(method, ADDRESS_POOLS + path, body)
                self.assert_error(reply, 404, "address pool 'nope' not found")

    def test_modify(self):
        """Modify changes the given fields and keeps the others."""
        self.create()
        reply = self.call(
            "PUT", ADDRESS_POOLS + "lan", {"provider": "cloudinit"}
        )
        self.assert_ok(reply, "")
        pool = self.reloaded_state().addresses.pools["lan"]
        self.assertEqual(pool.provider, "cloudinit")
        self.assertEqual(pool.gateway, "10.213.7.1")
        self.assertEqual(pool.dns, ("10.213.7.1", "10.213.0.53"))

    def test_modify_gateway_outside_ranges(self):
        """A new gateway outside a range's network gets 400."""
        self.create()
        self.assert_ok(self.add_range("10.213.7.10", "10.213.7.19"))
        reply = self.call(
            "PUT", ADDRESS_POOLS + "lan", {"gateway": "10.9.0.1"}
        )
        self.assert_error(
            reply, 400, "invalid gateway 10.9.0.1", "10.213.7.0/24"
        )
        pool = self.reloaded_state().addresses.pools["lan"]
        self.assertEqual(pool.gateway, "10.213.7.1")

    def test_modify_gateway_allocated(self):
        """A new gateway that an instance has gets 409."""
        self.create()
        self.assert_ok(self.add_range("10.213.7.10", "10.213.7.19"))
        self.allocate("10.213.7.10", "i-1")
        body = {"gateway": "10.213.7.10"}
        reply = self.call("PUT", ADDRESS_POOLS + "lan", body)
        self.assert_error(reply, 409, "allocated to instance i-1")

    def test_delete(self):
        """A pool with ranges and no allocations can be deleted."""
        self.create()
        self.assert_ok(self.add_range("10.213.7.10", "10.213.7.19"))
        self.assert_ok(self.call("DELETE", ADDRESS_POOLS + "lan"), "")
        self.assertEqual(dict(self.reloaded_state().addresses.pools), {})
        self.assert_error(self.call("GET", ADDRESS_POOLS + "lan"), 404)

    def test_delete_bound_to_compute_pool(self):
        """A pool that a compute pool uses gets 409 naming it."""
        self.create()
        self.assert_ok(self.call("POST", POOLS + "web", {"network": "lan"}))
        reply = self.call("DELETE", ADDRESS_POOLS + "lan")
        self.assert_error(reply, 409, "network of compute pools web")
        self.assertIn("lan", self.reloaded_state().addresses.pools)

    def test_delete_with_allocations(self):
        """A pool with allocated addresses gets 409 naming the instance."""
        self.create()
        self.assert_ok(self.add_range("10.213.7.10", "10.213.7.19"))
        self.allocate("10.213.7.12", "i-7")
        reply = self.call("DELETE", ADDRESS_POOLS + "lan")
        self.assert_error(reply, 409, "1 allocated addresses", "i-7")
        self.assertIn("lan", self.reloaded_state().addresses.pools)

    def test_get_shows_allocations(self):
        """A pool's allocations are listed by address."""
        self.create()
        self.assert_ok(self.add_range("10.213.7.2", "10.213.7.19"))
        self.allocate("10.213.7.10", "i-2")
        self.allocate("10.213.7.9", "i-1")
        reply = self.call("GET", ADDRESS_POOLS + "lan")
        self.assertEqual(
            reply.data["allocated"],
            [
                {"address": "10.213.7.9", "instance": "i-1"},
                {"address": "10.213.7.10", "instance": "i-2"},
            ],
        )


class RangeTests(AddressPoolTestCase):
    """Add, list, read and remove ranges."""

    def setUp(self):
        super().setUp()
        self.create()

    def test_add_and_list(self):
        """Ranges are listed by start address, with their capacity."""
        self.assert_ok(self.add_range("10.213.7.100", "10.213.7.109"), "")
        self.assert_ok(self.add_range("10.213.7.1", "10.213.7.10"), "")
        reply = self.call("GET", ADDRESS_POOLS + "lan/internal/ranges/")
        self.assert_ok(
            reply,
            [
                {
                    "start": "10.213.7.1",
                    "end": "10.213.7.10",
                    "netmask": MASK,
                    "capacity": 9,
                },
                {
                    "start": "10.213.7.100",
                    "end": "10.213.7.109",
                    "netmask": MASK,
                    "capacity": 10,
                },
            ],
        )
        external = self.call("GET", ADDRESS_POOLS + "lan/external/ranges/")
        self.assert_ok(external, [])

    def test_get_range_with_allocations(self):
        """A range shows only the allocations inside it."""
        self.assert_ok(self.add_range("10.213.7.10", "10.213.7.19"))
        self.assert_ok(self.add_range("10.213.7.20", "10.213.7.29"))
        self.allocate("10.213.7.11", "i-1")
        self.allocate("10.213.7.21", "i-2")
        reply = self.call(
            "GET", ADDRESS_POOLS + "lan/internal/ranges/10.213.7.20"
        )
        self.assert_ok(
            reply,
            {
                "start": "10.213.7.20",
                "end": "10.213.7.29",
                "netmask": MASK,
                "capacity": 10,
                "allocated": [{"address": "10.213.7.21", "instance": "i-2"}],
            },
        )

    def test_get_missing_range(self):
        """An unknown start, or the other type, gets 404."""
        self.assert_ok(self.add_range("10.213.7.10", "10.213.7.19"))
        for path in [
            "internal/ranges/10.213.7.11",
            "external/ranges/10.213.7.10",
        ]:
            with self.subTest(path=path):
                reply = self.call("GET", f"{ADDRESS_POOLS}lan/{path}")
                self.assert_error(reply, 404, "has no")

    def test_bad_type(self):
        """A range type other than internal or external gets 400."""
        reply = self.call("GET", ADDRESS_POOLS + "lan/public/ranges/")
        self.assert_error(reply, 400, "invalid range type 'public'")
        reply = self.add_range("10.213.7.10", "10.213.7.19", kind="public")
        self.assert_error(reply, 400, "must be internal or external")

    def test_invalid_ranges(self):
        """Each invalid range gets 400 naming the field and the fix."""
        cases = [
            (("10.213.7.20", "10.213.7.10"), "before the start 10.213.7.20"),
            (("10.213.7.10", "10.213.8.10"), "outside the network"),
            (("10.213.7.x", "10.213.7.10"), "invalid start '10.213.7.x'"),
            (
                (
                    "10.213.7.10",
                    "10.213.7.20",
                    "lan",
                    "internal",
                    "255.255.0.255",
                ),
                "invalid netmask",
            ),
            # The pool's gateway 10.213.7.1 is outside 10.213.8.0/24.
            (("10.213.8.10", "10.213.8.20"), "invalid gateway 10.213.7.1"),
        ]
        for arguments, fragment in cases:
            with self.subTest(arguments=arguments):
                reply = self.add_range(*arguments)
                self.assert_error(reply, 400, fragment)
        reply = self.call(
            "POST", ADDRESS_POOLS + "lan/internal/ranges/10.213.7.10", {}
        )
        self.assert_error(reply, 400, "missing field 'end'")
        pool = self.reloaded_state().addresses.pools["lan"]
        self.assertEqual(dict(pool.ranges), {})

    def test_special_blocks_rejected(self):
        """A gateway or range in a block no guest can use gets a 400."""
        for gateway, block in [
            ("127.0.0.1", "loopback block 127.0.0.0/8"),
            ("224.0.0.1", "multicast block 224.0.0.0/4"),
            ("0.0.0.1", "'this network' block 0.0.0.0/8"),
            ("240.0.0.1", "reserved block 240.0.0.0/4"),
            ("169.254.0.1", "link-local block 169.254.0.0/16"),
        ]:
            reply = self.call(
                "POST", ADDRESS_POOLS + "bad", {"gateway": gateway}
            )
            self.assert_error(reply, 400, f"invalid gateway {gateway}", block)
        self.create("wide", {"gateway": "126.0.0.1"})
        reply = self.add_range(
            "126.255.255.250", "127.0.0.5", "wide", mask="254.0.0.0"
        )
        self.assert_error(reply, 400, "loopback block 127.0.0.0/8")
        pools = self.reloaded_state().addresses.pools
        self.assertNotIn("bad", pools)
        self.assertEqual(dict(pools["wide"].ranges), {})

    def test_overlap_rejected(self):
        """A range that shares an address with any pool's range gets 409."""
        self.create("dmz", {"gateway": "10.213.7.1"})
        self.assert_ok(self.add_range("10.213.7.10", "10.213.7.19"))
        self.assert_ok(
            self.add_range("10.213.7.30", "10.213.7.39", "dmz", "external")
        )
        cases = [
            (
                ("10.213.7.19", "10.213.7.25"),
                "internal range 10.213.7.10-10.213.7.19 of address pool 'lan'",
            ),
            (("10.213.7.0", "10.213.7.10", "dmz"), "of address pool 'lan'"),
            (
                ("10.213.7.25", "10.213.7.30"),
                "external range 10.213.7.30-10.213.7.39 of address pool 'dmz'",
            ),
            (("10.213.7.10", "10.213.7.11", "lan", "external"), "overlaps"),
        ]
        for arguments, fragment in cases:
            with self.subTest(arguments=arguments):
                self.assert_error(self.add_range(*arguments), 409, fragment)
        self.assert_ok(self.add_range("10.213.7.20", "10.213.7.29"))

    def test_remove(self):
        """A range with no allocations is removed."""
        self.assert_ok(self.add_range("10.213.7.10", "10.213.7.19"))
        path = ADDRESS_POOLS + "lan/internal/ranges/10.213.7.10"
        self.assert_ok(self.call("DELETE", path), "")
        pool = self.reloaded_state().addresses.pools["lan"]
        self.assertEqual(dict(pool.ranges), {})
        self.assert_error(self.call("DELETE", path), 404)

    def test_remove_with_allocations(self):
        """A range with an allocated address gets 409."""
        self.assert_ok(self.add_range("10.213.7.10", "10.213.7.19"))
        self.allocate("10.213.7.15", "i-3")
        path = ADDRESS_POOLS + "lan/internal/ranges/10.213.7.10"
        reply = self.call("DELETE", path)
        self.assert_error(reply, 409, "range 10.213.7.10-10.213.7.19", "i-3")
        pool = self.reloaded_state().addresses.pools["lan"]
        self.assertEqual(len(pool.ranges), 1)


class BindingRaceTests(AddressPoolTestCase):
    """A compute pool bound to an address pool while it is deleted."""

    def test_delete_while_bound_rejected(self):
        """Deleting an address pool that a compute pool is being bound
        to gets 409, and the binding is written."""
        self.create()
        binding = self.unsettled("POST", POOLS + "web", {"network": "lan"})
        reply = self.call("DELETE", ADDRESS_POOLS + "lan")
        self.assert_error(reply, 409, "another change to address pool 'lan'")
        self.stub.flush()
        self.assertEqual(self.successResultOf(binding).code, 200)
        state = self.reloaded_state()
        self.assertEqual(state.pools["web"].network, "lan")
        self.assertIn("lan", state.addresses.pools)

    def unsettled(self, method, path, body):
        """Send a signed request without letting the journal write."""
        data = orjson.dumps(body)
        headers = {"host": HOST, "content-type": "application/json"}
        headers.update(self.sign(Request(method, path, "", headers, data)))
        responding = self.stub.request(
            method, f"http://{HOST}{path}", headers=headers, data=data
        )
        self.stub.flush()
        return responding
