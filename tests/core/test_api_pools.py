"""Core's API: compute pools (list, get, create, modify, delete)."""

from api_helpers import HOST, ApiTestCase

from nano.signing import Request

POOLS = "/api/v1/compute_pools/"
ADDRESS_POOLS = "/api/v1/address_pools/"


class PoolTests(ApiTestCase):
    """Each change is journalled before the reply, and replies in
    Nano 1.x's shape."""

    def create(self, name, body=None):
        reply = self.call("POST", POOLS + name, body)
        self.assert_ok(reply, "")
        return reply

    def address_pools(self, *names):
        for name in names:
            reply = self.call(
                "POST", ADDRESS_POOLS + name, {"gateway": "10.213.7.1"}
            )
            self.assert_ok(reply, "")

    def test_create_defaults(self):
        """A pool created with no body uses local storage, no address
        pool and no failover, and is enabled."""
        self.create("default")
        reply = self.call("GET", POOLS + "default")
        self.assert_ok(
            reply,
            {
                "name": "default",
                "enabled": True,
                "cells": 0,
                "storage": "",
                "network": "",
                "failover": False,
            },
        )

    def test_create_with_settings(self):
        """Storage, network and failover are stored as given."""
        self.address_pools("nat-1")
        self.create(
            "fast",
            {"storage": "nfs-1", "network": "nat-1", "failover": True},
        )
        pool = self.live.current.state.pools["fast"]
        self.assertEqual(pool.storage, "nfs-1")
        self.assertEqual(pool.network, "nat-1")
        self.assertTrue(pool.failover)

    def test_create_is_journalled(self):
        """A created pool is in a fresh load of the journal."""
        self.address_pools("net")
        self.create("a", {"network": "net"})
        self.assertEqual(self.reloaded_state().pools["a"].network, "net")

    def test_create_accepts_nano_fields(self):
        """Nano 1.x's empty cells list, network_mode and "" names work."""
        self.create(
            "compat",
            {
                "cells": [],
                "network_mode": "share",
                "storage": "",
                "network": "",
            },
        )
        pool = self.live.current.state.pools["compat"]
        self.assertIsNone(pool.storage)
        self.assertIsNone(pool.network)

    def test_list_sorted(self):
        """The list contains every pool, sorted by name."""
        for name in ["b", "a", "c"]:
            self.create(name)
        reply = self.call("GET", POOLS)
        self.assert_ok(reply)
        self.assertEqual(
            [pool["name"] for pool in reply.data], ["a", "b", "c"]
        )

    def test_list_follows_changes(self):
        """A list read after a change shows the change."""
        self.create("a")
        self.assertEqual(len(self.call("GET", POOLS).data), 1)
        self.create("b")
        self.assert_ok(self.call("PUT", POOLS + "a", {"enable": False}))
        reply = self.call("GET", POOLS)
        self.assertEqual([pool["name"] for pool in reply.data], ["a", "b"])
        self.assertFalse(reply.data[0]["enabled"])

    def test_create_existing(self):
        """Creating a pool that exists gets 409 and changes nothing."""
        self.address_pools("first", "second")
        self.create("a", {"network": "first"})
        reply = self.call("POST", POOLS + "a", {"network": "second"})
        self.assert_error(reply, 409, "compute pool 'a' already exists")
        self.assertEqual(self.reloaded_state().pools["a"].network, "first")

    def test_invalid_names(self):
        """Names outside the allowed characters or length get 400."""
        for name in ["-a", "a%20b", "a%C3%A9", "x" * 65, ".hidden"]:
            reply = self.call("POST", POOLS + name)
            self.assert_error(reply, 400, "invalid compute pool name")
        self.assertEqual(dict(self.live.current.state.pools), {})

    def test_longest_name(self):
        """A 64-character name is accepted."""
        self.create("p" * 64)

    def test_invalid_create_bodies(self):
        """Each invalid field gets 400 naming it and what is accepted."""
        cases = [
            ({"storage": 5}, "invalid storage 5"),
            ({"storage": "a b"}, "invalid storage 'a b'"),
            ({"network": ["x"]}, 'invalid network ["x"]'),
            ({"failover": "yes"}, 'invalid failover "yes": must be true'),
            ({"failover": True}, "failover needs shared storage"),
            ({"network_mode": "bridge"}, "must be one of plain, share, mono"),
            ({"cells": ["cell1"]}, "POST /api/v1/compute_pool_cells/"),
            ({"cells": "cell1"}, "invalid cells"),
            ({"enable": True}, "unknown field 'enable'"),
            ({"colour": "red"}, "accepted fields are"),
        ]
        for body, fragment in cases:
            with self.subTest(body=body):
                reply = self.call("POST", POOLS + "p", body)
                self.assert_error(reply, 400, fragment)
        self.assertEqual(dict(self.reloaded_state().pools), {})

    def test_invalid_json(self):
        """A body that is not a JSON object gets 400."""
        for body, fragment in [
            (b"{not json", "invalid JSON"),
            (b"[1, 2]", "must be a JSON object, not list"),
        ]:
            reply = self.call("POST", POOLS + "p", body)
            self.assert_error(reply, 400, fragment)

    def test_unknown_network(self):
        """A network that names no address pool gets 400, on create and
        on modify."""
        reply = self.call("POST", POOLS + "a", {"network": "nat-9"})
        self.assert_error(
            reply, 400, "invalid network 'nat-9': no such address pool"
        )
        self.assertNotIn("a", self.live.current.state.pools)
        self.create("a")
        reply = self.call("PUT", POOLS + "a", {"network": "nat-9"})
        self.assert_error(reply, 400, "POST /api/v1/address_pools/nat-9")
        self.assertIsNone(self.reloaded_state().pools["a"].network)

    def test_get_missing(self):
        """Getting an unknown pool gets 404."""
        reply = self.call("GET", POOLS + "nope")
        self.assert_error(reply, 404, "compute pool 'nope' not found")

    def test_modify(self):
        """Modify changes the given fields and keeps the others."""
        self.address_pools("net")
        self.create("a", {"storage": "nfs", "network": "net"})
        reply = self.call("PUT", POOLS + "a", {"failover": True})
        self.assert_ok(reply, "")
        pool = self.reloaded_state().pools["a"]
        self.assertTrue(pool.failover)
        self.assertEqual(pool.storage, "nfs")
        self.assertEqual(pool.network, "net")
        self.assertTrue(pool.enabled)

    def test_modify_enable(self):
        """The enable field disables and enables a pool."""
        self.create("a")
        self.assert_ok(self.call("PUT", POOLS + "a", {"enable": False}))
        self.assertFalse(self.reloaded_state().pools["a"].enabled)
        reply = self.call("GET", POOLS + "a")
        self.assertFalse(reply.data["enabled"])

    def test_modify_clears_storage(self):
        """Storage "" returns a pool to local disks."""
        self.create("a", {"storage": "nfs"})
        self.assert_ok(self.call("PUT", POOLS + "a", {"storage": ""}))
        self.assertIsNone(self.reloaded_state().pools["a"].storage)

    def test_modify_failover_without_storage(self):
        """Removing storage from a failover pool gets 400."""
        self.create("a", {"storage": "nfs", "failover": True})
        reply = self.call("PUT", POOLS + "a", {"storage": ""})
        self.assert_error(reply, 400, "failover needs shared storage")
        self.assertEqual(self.reloaded_state().pools["a"].storage, "nfs")

    def test_modify_invalid(self):
        """Invalid modify fields get 400."""
        self.create("a")
        for body, fragment in [
            ({"enable": 1}, "invalid enable 1"),
            ({"cells": []}, "unknown field 'cells'"),
            ({"network": 3.5}, "invalid network 3.5"),
        ]:
            with self.subTest(body=body):
                reply = self.call("PUT", POOLS + "a", body)
                self.assert_error(reply, 400, fragment)

    def test_modify_missing(self):
        """Modifying an unknown pool gets 404."""
        reply = self.call("PUT", POOLS + "nope", {"enable": False})
        self.assert_error(reply, 404, "compute pool 'nope' not found")

    def test_delete(self):
        """A deleted pool is gone from the state and the journal."""
        self.create("a")
        self.create("b")
        self.assert_ok(self.call("DELETE", POOLS + "a"), "")
        self.assertEqual(list(self.reloaded_state().pools), ["b"])
        self.assert_error(self.call("GET", POOLS + "a"), 404)

    def test_delete_missing(self):
        """Deleting an unknown pool gets 404."""
        reply = self.call("DELETE", POOLS + "nope")
        self.assert_error(reply, 404, "compute pool 'nope' not found")

    def test_reply_after_disk(self):
        """No reply is sent before the event is on disk."""
        pending = self._unsettled_create("late")
        self.assertNoResult(pending)
        self.assertEqual(self.journal.last_seq, 0)
        self.clock.advance(0)
        self.stub.flush()
        self.assertEqual(self.successResultOf(pending).code, 200)
        self.assertEqual(self.journal.last_seq, 1)

    def test_concurrent_change_rejected(self):
        """A second change to a pool while the first is being written
        gets 409."""
        self.address_pools("x")
        first = self._unsettled_create("a")
        second = self.call("POST", POOLS + "a", {"network": "x"})
        self.assert_error(second, 409, "another change to compute pool 'a'")
        self.stub.flush()
        self.assertEqual(self.successResultOf(first).code, 200)
        self.assertIsNone(self.reloaded_state().pools["a"].network)

    def _unsettled_create(self, name):
        """Send a signed create without letting the journal write."""
        path = POOLS + name
        headers = {"host": HOST}
        headers.update(self.sign(Request("POST", path, "", headers)))
        responding = self.stub.request(
            "POST", f"http://{HOST}{path}", headers=headers, data=b""
        )
        self.stub.flush()
        return responding
