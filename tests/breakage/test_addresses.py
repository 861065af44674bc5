"""
Defects found by using address pools, guest addresses and guest
credentials as a new user would.

Each test shows one defect and is marked ``xfail(strict=True)``, so the
suite stays green until the defect is fixed, and then the mark must go.
The tests drive Core's API in memory with fake Cells, as
tests/core/addresses does, then pass what Core sent to the Cell's own
DHCP and seed checks. None of them starts a process or opens a socket.
"""

import os
import stat
import sys
from pathlib import Path
from types import SimpleNamespace

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

TESTS = Path(__file__).parents[1]
sys.path[:0] = [str(TESTS / "core")]

from api_helpers import ApiTestCase  # noqa: E402
from guest_helpers import CENTOS, GuestTestCase  # noqa: E402

from nano.cell.cloudinit import InvalidSeed, check_seed  # noqa: E402
from nano.cell.network import DhcpServer  # noqa: E402
from nano.cell.network._cell import wanted_bindings  # noqa: E402
from nano.cell.network._files import (  # noqa: E402
    network_servers,
    parse_bindings,
)

ADDRESS_POOLS = "/api/v1/address_pools/"


class AddressGuestTestCase(GuestTestCase):
    """Pool ``p1`` bound to address pool ``lan``, with one Cell."""

    def setUp(self):
        super().setUp()
        self.assert_ok(
            self.call("POST", ADDRESS_POOLS + "lan", {"gateway": "10.213.7.1"})
        )
        self.assert_ok(
            self.call(
                "POST",
                ADDRESS_POOLS + "lan/internal/ranges/10.213.7.10",
                {"end": "10.213.7.12", "netmask": "255.255.255.0"},
            )
        )
        self.assert_ok(
            self.call("PUT", "/api/v1/compute_pools/p1", {"network": "lan"})
        )
        self.cell = self.add_instance_cell("Cell_1")

    def tearDown(self):
        # The fake Cell's session logs the errors it sends in replies.
        self.flushLoggedErrors(RuntimeError, KeyError)
        super().tearDown()

    def created(self, name="vm1", **fields):
        """Create a guest, let its saga run, and return its id."""
        reply = self.create(name=name, **fields)
        self.assertEqual(reply.status, 202, reply.message)
        self.advance(1)
        guest_id = reply.data["id"]
        self.assertTrue(self.guest(guest_id)["created"])
        return guest_id

    def put_auth(self, guest_id, body):
        """Send ``PUT /guests/<id>/auth`` and return the reply."""
        return self.call("PUT", f"/api/v1/guests/{guest_id}/auth", body)


class RoutePathTests(ApiTestCase):
    """List routes requested without their trailing slash."""

    def test_list_without_slash(self):
        """The reply is the list, or a 404 naming the route with the
        slash. It is not a claim that the signature is wrong."""
        for path in [
            "/api/v1/address_pools",
            "/api/v1/address_pools/lan/internal/ranges",
        ]:
            reply = self.call("GET", path)
            self.assertNotEqual(reply.status, 401, f"{path}: {reply.message}")


class SpecialRangeTests(GuestTestCase):
    """Ranges in address blocks that no guest NIC can use."""

    def test_special_blocks_rejected(self):
        """Each block is rejected with 400, for the gateway or the range."""
        cases = [
            ("lo", "127.0.0.1", "127.0.0.2", "255.0.0.0"),
            ("mc", "224.0.0.1", "224.0.0.2", "255.255.255.0"),
            ("zero", "0.0.0.1", "0.0.0.2", "255.255.255.0"),
            ("future", "240.0.0.1", "240.0.0.2", "255.255.255.0"),
        ]
        for name, gateway, start, netmask in cases:
            self.assert_rejected(name, gateway, start, netmask)

    def assert_rejected(self, name, gateway, start, netmask):
        """Check that the pool or its range is rejected with 400."""
        path = ADDRESS_POOLS + name
        reply = self.call("POST", path, {"gateway": gateway})
        if reply.status == 400:
            self.assertIn(gateway, reply.message)
            return
        self.assert_ok(reply)
        end = start.rsplit(".", 1)[0] + ".9"
        body = {"end": end, "netmask": netmask}
        reply = self.call("POST", f"{path}/internal/ranges/{start}", body)
        self.assert_error(reply, 400, start)


class GuestAuthTests(AddressGuestTestCase):
    """``PUT /guests/<id>/auth`` with passwords outside its rule."""

    def test_empty_password_rejected(self):
        """An empty password is rejected, as it is on create."""
        guest_id = self.created(cloud_init={})
        before = self.call("GET", f"/api/v1/guests/{guest_id}/auth").data
        reply = self.put_auth(guest_id, {"password": ""})
        self.assert_error(reply, 400, "password")
        after = self.call("GET", f"/api/v1/guests/{guest_id}/auth").data
        self.assertEqual(after, before)

    def test_c1_control_password_rejected(self):
        """U+0085 (NEL) is a control character, like a newline."""
        guest_id = self.created(cloud_init={})
        reply = self.put_auth(guest_id, {"password": "pass\x85word"})
        self.assert_error(reply, 400, "control characters")

    def test_no_seed_error_names_cloud_init(self):
        """The 409 names the cause (no cloud_init at create), because
        PUT /auth cannot add a seed to such a guest."""
        guest_id = self.created()
        reply = self.call("GET", f"/api/v1/guests/{guest_id}/auth")
        self.assert_error(reply, 409, "cloud_init")


class TemplateAdminTests(AddressGuestTestCase):
    """A template's ``admin`` that is valid there but not as ``user``."""

    def setUp(self):
        super().setUp()
        body = dict(CENTOS, name="Upper admin", admin="Admin.User")
        reply = self.call("POST", "/api/v1/templates/", body)
        self.assert_ok(reply)
        self.template = reply.data["id"]

    def test_cloud_init_default_admin(self):
        """The default admin comes from the template, so either the create
        works or the error names the template and the field to set."""
        reply = self.create(template=self.template, cloud_init={})
        if reply.status == 202:
            return
        self.assert_error(reply, 400, "template", "admin_name")


class CellBindingTests(AddressGuestTestCase):
    """What the Cell's DHCP serves for the guests Core creates."""

    def cell_instances(self):
        """Return the Cell's view of each guest Core asked it to create."""
        return [
            SimpleNamespace(
                id=request.instance_id,
                name=request.name,
                mac=request.mac,
                state="running",
                network=request.network,
            )
            for request in self.cell.received
            if request.type_name == "CreateInstanceRequest"
        ]

    def test_mixed_netmasks_all_served(self):
        """For ranges of one pool with different netmasks, either Core
        rejects the range or the Cell serves every guest of the pool."""
        reply = self.call(
            "POST",
            ADDRESS_POOLS + "lan/internal/ranges/10.213.7.100",
            {"end": "10.213.7.101", "netmask": "255.255.255.128"},
        )
        if reply.status in (400, 409):
            self.assertIn("netmask", reply.message)
            return
        self.assert_ok(reply)
        for number in range(5):
            self.created(f"vm{number}")
        *_, skipped = wanted_bindings(self.cell_instances())
        self.assertEqual(skipped, [])

    def test_rebound_pool_all_served(self):
        """When ``p1`` moves to another address pool, either Core rejects
        the move while guests hold addresses or the Cell serves them all."""
        self.created("old1")
        self.created("old2")
        far = {"gateway": "10.213.77.1"}
        self.assert_ok(self.call("POST", ADDRESS_POOLS + "far", far))
        self.assert_ok(
            self.call(
                "POST",
                ADDRESS_POOLS + "far/internal/ranges/10.213.77.10",
                {"end": "10.213.77.20", "netmask": "255.255.255.0"},
            )
        )
        reply = self.call(
            "PUT", "/api/v1/compute_pools/p1", {"network": "far"}
        )
        if reply.status == 409:
            self.assertIn("network", reply.message)
            return
        self.assert_ok(reply)
        self.created("new1")
        *_, skipped = wanted_bindings(self.cell_instances())
        self.assertEqual(skipped, [])

    def test_new_gateway_served_to_new_guest(self):
        """PUT of the gateway applies to guests created afterwards."""
        self.created("old1")
        self.created("old2")
        new_gateway = {"gateway": "10.213.7.254"}
        self.assert_ok(self.call("PUT", ADDRESS_POOLS + "lan", new_gateway))
        self.created("new1")
        instances = self.cell_instances()
        self.assertEqual(instances[-1].network["gateway"], "10.213.7.254")
        networks, bindings, skipped = wanted_bindings(instances)
        self.assertEqual(skipped, [])
        self.assertIn(instances[-1].mac, bindings)
        servers = network_servers(parse_bindings(bindings, networks))
        [(gateway, _)] = servers.values()
        self.assertEqual(gateway, "10.213.7.254")


class SeedCheckTests(AddressGuestTestCase):
    """Guest settings that Core accepts but the Cell's seed rejects."""

    def test_core_accepts_only_valid_seeds(self):
        """A name Core takes with cloud_init gives a seed the Cell takes,
        or Core rejects it with 400 before anything is created."""
        for name in ["grp.web.01", "a" * 64]:
            reply = self.create(name=name, cloud_init={})
            if reply.status == 400:
                self.assertIn(name, reply.message)
                continue
            self.assertEqual(reply.status, 202, reply.message)
            self.advance(1)
            request = [
                message
                for message in self.cell.received
                if message.type_name == "CreateInstanceRequest"
            ][-1]
            try:
                check_seed(
                    request.instance_id,
                    request.cloud_init,
                    request.network,
                    request.mac,
                )
            except InvalidSeed as error:
                self.fail(f"{name!r} passed Core, not the Cell: {error}")

    def test_system_data_path_rejected_by_core(self):
        """A data path the Cell refuses to mount over is a 400 from Core,
        naming the path, before anything is created."""
        for path in ["/etc", "/usr", "/proc/data"]:
            reply = self.create(
                name="vm1",
                disks=[1024**3, 1024**3],
                cloud_init={"data_path": path},
            )
            self.assert_error(reply, 400, "data_path", path)


class EthernetAddressTests(AddressGuestTestCase):
    """``ethernet_address`` values that no NIC can have."""

    def test_non_unicast_mac_rejected(self):
        """A NIC's MAC must be unicast and not zero. The Cell rejects a
        multicast one, but only after Core accepted the guest."""
        for mac in [
            "01:00:5e:00:00:01",
            "ff:ff:ff:ff:ff:ff",
            "00:00:00:00:00:00",
        ]:
            reply = self.create(name="vm1", ethernet_address=mac)
            self.assert_error(reply, 400, "ethernet_address", mac)


class DhcpDirectoryTests(SynchronousTestCase):
    """The DHCP directory a daemonized Cell creates for dnsmasq."""

    def test_directory_passable_under_daemon_umask(self):
        """twistd sets umask 077 when it daemonizes (Twisted's
        scripts/_twistd_unix.py), so the Cell must open the directory
        and files to dnsmasq's user itself."""
        directory = Path(self.mktemp()).absolute() / "dhcp"
        server = DhcpServer(Clock(), "nb6br0", directory, "10.213.106.0/24")
        previous = os.umask(0o077)
        try:
            server.set_bindings({}, "10.213.106.1")
        finally:
            os.umask(previous)
        mode = directory.stat().st_mode
        self.assertTrue(mode & stat.S_IXOTH, stat.filemode(mode))
        hosts = Path(server.files.hosts).stat().st_mode
        self.assertTrue(hosts & stat.S_IROTH, stat.filemode(hosts))
