"""
The files and packets the DHCP server hands dnsmasq: hosts and options
files, the lease file, the command line and DHCPRELEASE.
"""

import ipaddress
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import time
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from nano.cell.network import Binding, DhcpError, Lease, read_leases
from nano.cell.network._dnsmasq import (
    DnsmasqFiles,
    dnsmasq_arguments,
    find_dnsmasq,
)
from nano.cell.network._files import (
    hosts_text,
    make_directory,
    network_servers,
    options_text,
    parse_bindings,
    parse_servers,
    prune_leases,
    stale_leases,
    write_text_atomic,
)
from nano.cell.network._interfaces import check_readable, server_address
from nano.cell.network._previous import end_previous
from nano.cell.network._release import release_packet

NETWORK = ipaddress.IPv4Network("10.213.7.0/24")
NETWORKS = (NETWORK,)
MAC = "52:54:00:12:34:56"
LEASES = (
    "1796401357 52:54:00:12:34:56 10.213.7.10 one 01:52:54:00:12:34:56\n"
    "1796401358 52:54:00:12:34:57 10.213.7.11 * *\n"
    "duid 00:01:00:01:2c:5f:1e:21:52:54:00:12:34:56\n"
)


class ParseBindingsTests(SynchronousTestCase):
    """parse_bindings checks each binding against the range."""

    def test_order_and_lowercase(self):
        """Bindings come back in the order given, MACs in lower case."""
        parsed = parse_bindings(
            {
                "52:54:00:00:00:0B": ("10.213.7.20", "two"),
                MAC: ("10.213.7.3", None),
            },
            NETWORKS,
        )
        self.assertEqual(
            parsed,
            [
                Binding("52:54:00:00:00:0b", "10.213.7.20", "two", NETWORK),
                Binding(MAC, "10.213.7.3", None, NETWORK),
            ],
        )

    def test_invalid_mac(self):
        """A MAC that is not six hex bytes is named in the error."""
        error = self.assertRaises(
            DhcpError,
            parse_bindings,
            {"52:54:00:1": ("10.213.7.3", None)},
            NETWORKS,
        )
        self.assertIn("invalid MAC address '52:54:00:1'", str(error))

    def test_address_outside_range(self):
        """An address outside the range is rejected with the range."""
        error = self.assertRaises(
            DhcpError, parse_bindings, {MAC: ("10.213.8.3", None)}, NETWORKS
        )
        self.assertIn("10.213.8.3 is not a host address", str(error))
        self.assertIn("10.213.7.0/24", str(error))

    def test_network_and_broadcast_addresses(self):
        """Neither the network nor the broadcast address can be bound."""
        for address in ("10.213.7.0", "10.213.7.255"):
            error = self.assertRaises(
                DhcpError, parse_bindings, {MAC: (address, None)}, NETWORKS
            )
            self.assertIn(f"address {address} is not", str(error))

    def test_address_not_ipv4(self):
        """A value that is not an IPv4 address names an example."""
        error = self.assertRaises(
            DhcpError, parse_bindings, {MAC: ("fe80::1", None)}, NETWORKS
        )
        self.assertIn("invalid IPv4 address 'fe80::1'", str(error))
        self.assertIn("10.213.7.1", str(error))

    def test_invalid_hostname(self):
        """Host names follow the DNS label rules."""
        for name in ("-lead", "trail-", "has space", "a" * 64, "dot.ted"):
            error = self.assertRaises(
                DhcpError,
                parse_bindings,
                {MAC: ("10.213.7.3", name)},
                NETWORKS,
            )
            self.assertIn(f"invalid host name {name!r}", str(error))

    def test_address_bound_twice(self):
        """One address cannot go to two MACs."""
        error = self.assertRaises(
            DhcpError,
            parse_bindings,
            {
                MAC: ("10.213.7.3", None),
                "52:54:00:00:00:01": ("10.213.7.3", None),
            },
            NETWORKS,
        )
        self.assertIn("10.213.7.3 is bound to both", str(error))

    def test_invalid_servers(self):
        """Gateway and DNS servers must be IPv4 addresses."""
        self.assertEqual(
            parse_servers("10.213.7.1", ["10.213.7.2"]),
            ("10.213.7.1", ("10.213.7.2",)),
        )
        error = self.assertRaises(DhcpError, parse_servers, None, ["dns"])
        self.assertIn("invalid gateway or DNS server 'dns'", str(error))


class FileTextTests(SynchronousTestCase):
    """The hosts and options files in dnsmasq's syntax."""

    def test_hosts_lines(self):
        """One mac,address[,name] line per binding."""
        text = hosts_text(
            [
                Binding(MAC, "10.213.7.3", "one", NETWORK),
                Binding("52:54:00:00:00:01", "10.213.7.4", None, NETWORK),
            ]
        )
        self.assertEqual(
            text, f"{MAC},10.213.7.3,one\n52:54:00:00:00:01,10.213.7.4\n"
        )

    def test_hosts_empty(self):
        """No bindings make an empty file, which dnsmasq accepts."""
        self.assertEqual(hosts_text([]), "")

    def test_options_with_servers(self):
        """The router and DNS servers are offered for the range's tag."""
        servers = {NETWORK: ("10.213.7.1", ("10.213.7.1", "10.213.7.2"))}
        self.assertEqual(
            options_text(NETWORKS, servers),
            "tag:net0,option:router,10.213.7.1\n"
            "tag:net0,option:dns-server,10.213.7.1,10.213.7.2\n",
        )

    def test_options_without_servers(self):
        """Empty options stop dnsmasq offering its own address."""
        self.assertEqual(
            options_text(NETWORKS, {NETWORK: (None, ())}),
            "tag:net0,option:router\ntag:net0,option:dns-server\n",
        )

    def test_options_per_network(self):
        """Each network's tag gets the servers of its newest binding, and a
        network with no binding gets none."""
        other = ipaddress.IPv4Network("10.213.77.0/24")
        idle = ipaddress.IPv4Network("10.213.99.0/24")
        bindings = parse_bindings(
            {
                MAC: ("10.213.7.10", "old", _settings(24, "10.213.7.1")),
                "52:54:00:00:00:01": (
                    "10.213.7.11",
                    "new",
                    _settings(24, "10.213.7.254"),
                ),
                "52:54:00:00:00:02": (
                    "10.213.77.10",
                    "far",
                    _settings(24, "10.213.77.1", ["10.213.77.1"]),
                ),
            },
            (NETWORK, other),
        )
        servers = network_servers(bindings)
        self.assertEqual(servers[NETWORK], ("10.213.7.254", ("10.213.7.1",)))
        options = options_text((NETWORK, other, idle), servers).splitlines()
        self.assertEqual(
            options,
            [
                "tag:net0,option:router,10.213.7.254",
                "tag:net0,option:dns-server,10.213.7.1",
                "tag:net1,option:router,10.213.77.1",
                "tag:net1,option:dns-server,10.213.77.1",
                "tag:net2,option:router",
                "tag:net2,option:dns-server",
            ],
        )

    def test_own_network_not_served(self):
        """A binding whose network is not among the ranges is rejected."""
        error = self.assertRaises(
            DhcpError,
            parse_bindings,
            {MAC: ("10.213.77.10", None, _settings(24, "10.213.77.1"))},
            NETWORKS,
        )
        self.assertIn("network 10.213.77.0/24 of " + MAC, str(error))

    def test_directory_under_daemon_umask(self):
        """Directories made under umask 077 still let dnsmasq's user pass,
        and an existing directory above them keeps its mode."""
        top = Path(self.mktemp()).absolute()
        top.mkdir(mode=0o750)
        os.chmod(top, 0o750)
        path = top / "data" / "dhcp"
        previous = os.umask(0o077)
        try:
            make_directory(path)
        finally:
            os.umask(previous)
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o755)
        self.assertEqual(stat.S_IMODE(path.parent.stat().st_mode), 0o755)
        self.assertEqual(stat.S_IMODE(top.stat().st_mode), 0o750)

    def test_write_atomic(self):
        """The file is replaced whole, readable by others, no temp left."""
        directory = self.mktemp()
        os.makedirs(directory)
        path = Path(directory) / "hosts"
        write_text_atomic(path, "old\n")
        write_text_atomic(path, "new\n")
        self.assertEqual(path.read_text(), "new\n")
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o644)
        self.assertEqual(os.listdir(directory), ["hosts"])


class LeaseFileTests(SynchronousTestCase):
    """Reading and pruning dnsmasq's lease file."""

    def setUp(self):
        directory = Path(self.mktemp())
        directory.mkdir()
        self.path = directory / "leases"
        self.path.write_text(LEASES)

    def test_read(self):
        """IPv4 leases are read, with or without a client id."""
        self.assertEqual(
            read_leases(self.path),
            [
                Lease(MAC, "10.213.7.10", "01:52:54:00:12:34:56"),
                Lease("52:54:00:12:34:57", "10.213.7.11", None),
            ],
        )

    def test_read_missing(self):
        """A missing lease file has no leases."""
        self.assertEqual(read_leases(self.path.with_name("none")), [])

    def test_stale(self):
        """A lease whose MAC moved to another address is stale."""
        leases = read_leases(self.path)
        bindings = [
            Binding(MAC, "10.213.7.10", None, NETWORK),
            Binding("52:54:00:12:34:57", "10.213.7.12", None, NETWORK),
        ]
        self.assertEqual(stale_leases(leases, bindings), [leases[1]])

    def test_prune(self):
        """Unbound leases go; bound ones and other lines stay."""
        removed = prune_leases(
            self.path, [Binding(MAC, "10.213.7.10", None, NETWORK)]
        )
        self.assertEqual(removed, [LEASES.splitlines()[1]])
        lines = LEASES.splitlines(keepends=True)
        self.assertEqual(self.path.read_text(), lines[0] + lines[2])

    def test_prune_nothing(self):
        """With every lease bound the file is left alone."""
        before = self.path.stat().st_mtime_ns
        bindings = [
            Binding(MAC, "10.213.7.10", None, NETWORK),
            Binding("52:54:00:12:34:57", "10.213.7.11", None, NETWORK),
        ]
        self.assertEqual(prune_leases(self.path, bindings), [])
        self.assertEqual(self.path.stat().st_mtime_ns, before)


class ReleasePacketTests(SynchronousTestCase):
    """release_packet builds the DHCPRELEASE of RFC 2131."""

    def options(self, packet):
        """Parse the options after the magic cookie into a dict."""
        self.assertEqual(packet[236:240], b"\x63\x82\x53\x63")
        found, index = {}, 240
        while packet[index] != 255:
            code, length = packet[index], packet[index + 1]
            found[code] = packet[index + 2 : index + 2 + length]
            index += 2 + length
        return found

    def test_header(self):
        """The header names the lease's address and MAC."""
        packet = release_packet(Lease(MAC, "10.213.7.10", None), "10.213.7.1")
        op, htype, hlen = struct.unpack("!BBB", packet[:3])
        self.assertEqual((op, htype, hlen), (1, 1, 6))
        self.assertEqual(socket.inet_ntoa(packet[12:16]), "10.213.7.10")
        self.assertEqual(packet[28:34], bytes.fromhex("525400123456"))
        self.assertEqual(packet[34:44], bytes(10))

    def test_options(self):
        """Message type RELEASE, the server id and the client id."""
        lease = Lease(MAC, "10.213.7.10", "01:52:54:00:12:34:56")
        options = self.options(release_packet(lease, "10.213.7.1"))
        self.assertEqual(options[53], b"\x07")
        self.assertEqual(socket.inet_ntoa(options[54]), "10.213.7.1")
        self.assertEqual(options[61], bytes.fromhex("01525400123456"))

    def test_no_client_id(self):
        """A lease taken without a client id is released without one."""
        packet = release_packet(Lease(MAC, "10.213.7.10", None), "10.213.7.1")
        self.assertNotIn(61, self.options(packet))


class CommandLineTests(SynchronousTestCase):
    """dnsmasq_arguments serves one bridge, bound MACs only, no DNS."""

    def test_arguments(self):
        """The arguments confine dnsmasq to the bridge and the bindings."""
        files = DnsmasqFiles.in_directory("/var/lib/nano/dhcp")
        arguments = dnsmasq_arguments("br0", NETWORKS, 3600, files)
        for expected in (
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--port=0",
            "--bind-interfaces",
            "--interface=br0",
            "--except-interface=lo",
            "--dhcp-range=set:net0,10.213.7.0,static,255.255.255.0,3600",
            "--dhcp-hostsfile=/var/lib/nano/dhcp/hosts",
            "--dhcp-optsfile=/var/lib/nano/dhcp/options",
            "--dhcp-ignore=tag:!known",
            "--dhcp-leasefile=/var/lib/nano/dhcp/leases",
            "--pid-file=/var/lib/nano/dhcp/dnsmasq.pid",
        ):
            self.assertIn(expected, arguments)
        interfaces = [a for a in arguments if a.startswith("--interface")]
        self.assertEqual(interfaces, ["--interface=br0"])

    def test_range_per_network(self):
        """Each network served gets a --dhcp-range of its own."""
        files = DnsmasqFiles.in_directory("/var/lib/nano/dhcp")
        networks = (NETWORK, ipaddress.IPv4Network("10.213.77.0/24"))
        arguments = dnsmasq_arguments("br0", networks, 3600, files)
        ranges = [a for a in arguments if a.startswith("--dhcp-range")]
        self.assertEqual(
            ranges,
            [
                "--dhcp-range=set:net0,10.213.7.0,static,255.255.255.0,3600",
                "--dhcp-range=set:net1,10.213.77.0,static,255.255.255.0,3600",
            ],
        )

    def test_missing_binary(self):
        """A missing dnsmasq names the package to install."""
        error = self.assertRaises(DhcpError, find_dnsmasq, "no-such-dnsmasq")
        self.assertIn("no-such-dnsmasq not found", str(error))
        self.assertIn("apt-get install dnsmasq-base", str(error))


class HostCheckTests(SynchronousTestCase):
    """The checks of the bridge and the directory before dnsmasq starts."""

    def test_missing_bridge(self):
        """A bridge that does not exist is named."""
        error = self.assertRaises(
            DhcpError, server_address, "nano-none0", NETWORK
        )
        self.assertTrue(str(error).startswith("bridge nano-none0 not found"))

    def test_bridge_outside_range(self):
        """An interface with no address in the range lists its addresses."""
        error = self.assertRaises(DhcpError, server_address, "lo", NETWORK)
        self.assertIn("has no IPv4 address in the DHCP range", str(error))
        self.assertIn("(it has: 127.0.0.1)", str(error))
        self.assertIn("ip addr add 10.213.7.1/24 dev lo", str(error))

    def test_address_in_range(self):
        """The interface's address inside the range is returned."""
        network = ipaddress.IPv4Network("127.0.0.0/8")
        self.assertEqual(
            server_address("lo", network), ipaddress.IPv4Address("127.0.0.1")
        )

    def open_directory(self):
        """A fresh directory under /tmp, which others can pass."""
        directory = Path(tempfile.mkdtemp(prefix="nano-dhcp-test-"))
        directory.chmod(0o755)
        self.addCleanup(shutil.rmtree, directory)
        return directory

    def test_closed_directory(self):
        """A parent that others cannot pass is named with the fix."""
        closed = self.open_directory() / "closed"
        inner = closed / "dhcp"
        inner.mkdir(parents=True)
        closed.chmod(0o700)
        error = self.assertRaises(DhcpError, check_readable, inner)
        self.assertIn(f"directory {closed} (mode drwx------)", str(error))
        self.assertIn(f"chmod o+x {closed}", str(error))

    def test_open_directory(self):
        """A directory others can pass, under passable parents, is fine."""
        check_readable(self.open_directory())


class EndPreviousTests(SynchronousTestCase):
    """end_previous stops only a dnsmasq serving the same files."""

    def setUp(self):
        self.directory = Path(tempfile.mkdtemp(prefix="nano-dhcp-test-"))
        self.addCleanup(shutil.rmtree, self.directory)
        self.hosts = self.directory / "hosts"
        self.pid_file = self.directory / "dnsmasq.pid"
        # A process whose command line looks like our dnsmasq's.
        self.fake = self.directory / "dnsmasq"
        self.fake.symlink_to("/usr/bin/python3")

    def spawn(self, hosts):
        process = subprocess.Popen(
            [
                str(self.fake),
                "-c",
                "import time; time.sleep(30)",
                f"--dhcp-hostsfile={hosts}",
            ]
        )
        self.addCleanup(process.wait)
        self.addCleanup(process.kill)
        self.pid_file.write_text(f"{process.pid}\n")
        # Wait until the exec has replaced the command line.
        deadline = time.monotonic() + 5
        while f"{hosts}".encode() not in _cmdline(process.pid):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.01)
        return process

    def test_stops_left_over(self):
        """A dnsmasq on the same hosts file is stopped."""
        process = self.spawn(self.hosts)
        self.assertEqual(end_previous(self.pid_file, self.hosts), process.pid)
        self.assertEqual(process.wait(timeout=5), -signal.SIGTERM)

    def test_other_files_left_alone(self):
        """A dnsmasq serving other files keeps running."""
        process = self.spawn(self.directory / "other-hosts")
        self.assertIsNone(end_previous(self.pid_file, self.hosts))
        self.assertIsNone(process.poll())

    def test_no_pid_file(self):
        """Without a pid file there is nothing to stop."""
        self.assertIsNone(end_previous(self.pid_file, self.hosts))

    def test_stale_pid(self):
        """A pid file naming a process that exited is ignored."""
        self.pid_file.write_text("999999999\n")
        self.assertIsNone(end_previous(self.pid_file, self.hosts))


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _settings(prefix, gateway, dns=("10.213.7.1",)):
    """Return an instance's network settings as Core sends them."""
    return {"prefix": prefix, "gateway": gateway, "dns": list(dns)}
