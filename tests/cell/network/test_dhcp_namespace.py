"""
DhcpServer with the real dnsmasq on a bridge inside a network namespace
that has no uplink. QEMU guests and busybox udhcpc clients get exactly
their bound addresses, and unknown MACs get no reply. Bindings change
without a restart, and a killed dnsmasq comes back.
"""

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from nano.cell.network import read_leases

ROOT = Path(__file__).resolve().parents[3]
HARNESS = Path(__file__).with_name("dhcp_harness.py")
BUILDER = ROOT / "tools" / "build-test-guest"
GUEST = Path("/var/tmp/nano-test-guest")
NETWORK = "10.213.21.0/24"
SERVER = "10.213.21.1"
TIMEOUT = 60.0
REPLY_TIMEOUT = 15.0
GUESTS = {
    "52:54:00:d4:00:01": ("10.213.21.11", "guest-one"),
    "52:54:00:d4:00:02": ("10.213.21.12", "guest-two"),
    "52:54:00:d4:00:03": ("10.213.21.13", "guest-three"),
    "52:54:00:d4:00:04": ("10.213.21.14", "guest-four"),
}
CLIENT_MAC = "52:54:00:d4:00:99"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (netns)"),
    pytest.mark.skipif(
        shutil.which("qemu-system-x86_64") is None,
        reason="qemu-system-x86_64 is not installed (tools/install)",
    ),
    pytest.mark.skipif(
        shutil.which("dnsmasq", path="/usr/sbin:/sbin:/usr/bin") is None,
        reason="dnsmasq is not installed (apt-get install dnsmasq-base)",
    ),
]


def ip(*arguments, netns=None):
    """Run ``ip``, inside ``netns`` when given."""
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    subprocess.run([*prefix, *arguments], check=True)


@pytest.fixture(scope="module")
def guest_disk():
    """The test guest, built once, reusing an up-to-date build."""
    subprocess.run([str(BUILDER), str(GUEST)], check=True)
    return GUEST / "nano-test-guest.qcow2"


@pytest.fixture(scope="module")
def lan(blackhole):
    """
    A namespace with bridge ``br0`` (10.213.21.1/24), four taps for QEMU,
    and a second namespace whose ``eth0`` (MAC :99) is a veth port of the
    bridge, for udhcpc. Yields ``(server namespace, client namespace)``.
    """
    suffix = uuid.uuid4().hex[:8]
    server, client = f"nano-dhcp-{suffix}", f"nano-dhcpc-{suffix}"
    subprocess.run(["ip", "netns", "add", server], check=True)
    subprocess.run(["ip", "netns", "add", client], check=True)
    try:
        ip("link", "set", "lo", "up", netns=server)
        ip("link", "add", "br0", "type", "bridge", netns=server)
        ip("addr", "add", f"{SERVER}/24", "dev", "br0", netns=server)
        ip("link", "set", "br0", "up", netns=server)
        for number in range(len(GUESTS)):
            tap = f"tap{number}"
            ip("tuntap", "add", tap, "mode", "tap", netns=server)
            ip("link", "set", tap, "master", "br0", "up", netns=server)
        ip(
            "link", "add", "veth0", "type", "veth",
            "peer", "name", "eth0", "netns", client,
            netns=server,
        )  # fmt: skip
        ip("link", "set", "veth0", "master", "br0", "up", netns=server)
        ip("link", "set", "eth0", "address", CLIENT_MAC, netns=client)
        ip("link", "set", "eth0", "up", netns=client)
        yield server, client
    finally:
        subprocess.run(["ip", "netns", "del", client], check=False)
        subprocess.run(["ip", "netns", "del", server], check=False)


@pytest.fixture(scope="module")
def directory(open_directory):
    """The module's directory for dnsmasq's files and guest disks."""
    return open_directory


class Harness:
    """dhcp_harness.py in a namespace, spoken to over its stdin/stdout."""

    def __init__(self, netns, directory, bridge="br0", networks=(NETWORK,)):
        self.log_path = directory / f"harness-{bridge}.log"
        self.directory = directory / "dhcp"
        ranges = [part for n in networks for part in ("--network", n)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    "ip", "netns", "exec", netns,
                    sys.executable, str(HARNESS),
                    "--bridge", bridge,
                    "--directory", str(self.directory),
                    *ranges,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )  # fmt: skip
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.process.stdout, selectors.EVENT_READ)

    def send(self, **command):
        """Send one command and return its reply."""
        line = json.dumps(command).encode() + b"\n"
        self.process.stdin.write(line)
        self.process.stdin.flush()
        return self.reply()

    def reply(self):
        """Read the next reply line."""
        if not self._selector.select(REPLY_TIMEOUT):
            pytest.fail(f"no reply within {REPLY_TIMEOUT} s\n{self.log()}")
        line = self.process.stdout.readline()
        if not line:
            pytest.fail(f"the harness exited\n{self.log()}")
        return json.loads(line)

    def bind(self, macs, **extra):
        """Bind each MAC in ``macs`` to its address in GUESTS."""
        bindings = {mac: GUESTS.get(mac) for mac in macs}
        bindings.update(extra)
        reply = self.send(bind=bindings, gateway=SERVER, dns=[SERVER])
        return reply["bound"]

    def log(self):
        """The harness's log, which includes dnsmasq's output."""
        return self.log_path.read_text(errors="replace")

    def close(self):
        """Stop the server, and kill what is left by PID."""
        pid_file = self.directory / "dnsmasq.pid"
        if self.process.poll() is None:
            try:
                self.send(stop=None)
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        if pid_file.exists():
            _kill_dnsmasq(int(pid_file.read_text()), self.directory)


def _kill_dnsmasq(pid, directory):
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if str(directory).encode() in command:
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def harness(lan, directory):
    """A DhcpServer on ``br0`` for the whole module."""
    server, _ = lan
    running = Harness(server, directory)
    yield running
    running.close()


def boot_guest(netns, disk, directory, number, mac):
    """Start QEMU on ``tap<number>`` with ``mac``; return (process, log)."""
    overlay = directory / f"guest-{number}.qcow2"
    serial = directory / f"guest-{number}.serial"
    serial.unlink(missing_ok=True)
    subprocess.run(
        [
            "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
            "-b", str(disk), str(overlay),
        ],
        check=True,
    )  # fmt: skip
    command = [
        "ip", "netns", "exec", netns,
        "qemu-system-x86_64", "-machine", "pc,accel=tcg", "-m", "128",
        "-display", "none", "-monitor", "none", "-no-reboot",
        "-drive", f"file={overlay},if=virtio",
        "-serial", f"file:{serial}",
        "-netdev", f"tap,id=n0,ifname=tap{number},script=no,downscript=no",
        "-device", f"virtio-net-pci,netdev=n0,mac={mac}",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    return process, serial


def wait_for_ready(process, serial):
    """Wait for the guest's READY marker; return its serial text."""
    deadline = time.monotonic() + TIMEOUT
    text = ""
    while time.monotonic() < deadline:
        if serial.exists():
            text = serial.read_bytes().decode("ascii", "replace")
            if "NANO-GUEST-READY" in text:
                return text
        if process.poll() is not None:
            pytest.fail(f"QEMU exited with {process.returncode}: {text}")
        time.sleep(0.2)
    pytest.fail(f"no NANO-GUEST-READY within {TIMEOUT} s:\n{text}")


def stop_guest(process):
    process.kill()
    process.wait()


def udhcpc(netns, attempts=3):
    """Ask for a lease from the client namespace; return udhcpc's run."""
    return subprocess.run(
        [
            "ip", "netns", "exec", netns,
            "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f",
            "-t", str(attempts), "-T", "1", "-A", "0",
            "-s", "/bin/true",
        ],
        capture_output=True,
        text=True,
        timeout=attempts * 2 + 10,
    )  # fmt: skip


def lease_pairs(harness):
    """The (MAC, address) pairs in dnsmasq's lease file."""
    path = harness.directory / "leases"
    return {(lease.mac, lease.address) for lease in read_leases(path)}


def test_three_guests_get_bound_addresses(lan, harness, guest_disk, tmp_path):
    """
    Three guests each lease exactly their bound address; the third MAC,
    bound while dnsmasq runs, is served by the same process.
    """
    server, _ = lan
    macs = list(GUESTS)[:3]
    pid = harness.bind(macs[:2])
    assert harness.bind(macs) == pid

    guests = [
        boot_guest(server, guest_disk, tmp_path, number, mac)
        for number, mac in enumerate(macs)
    ]
    try:
        texts = [wait_for_ready(*guest) for guest in guests]
    finally:
        for process, _ in guests:
            stop_guest(process)

    for mac, text in zip(macs, texts, strict=True):
        address, hostname = GUESTS[mac]
        assert f"NANO-GUEST-LEASE iface=eth0 ip={address} mask=24" in text
        assert f"router={SERVER} hostname={hostname}" in text
        assert (mac, address) in lease_pairs(harness)
    assert harness.send(pid=None)["pid"] == pid
    pid_file = harness.directory / "dnsmasq.pid"
    assert int(pid_file.read_text()) == pid


def test_unknown_mac_gets_no_reply(lan, harness):
    """A MAC with no binding gets no offer, and no lease is recorded."""
    _, client = lan
    harness.bind(list(GUESTS)[:3])

    run = udhcpc(client)

    assert run.returncode != 0, run.stderr
    assert "lease of" not in run.stderr
    assert CLIENT_MAC not in {mac for mac, _ in lease_pairs(harness)}
    assert f"DHCPDISCOVER(br0) {CLIENT_MAC} ignored" in harness.log()


def test_removed_binding_frees_its_address(lan, harness):
    """
    An address whose binding was removed goes to its new MAC at once,
    although the old MAC's lease has not expired.
    """
    _, client = lan
    first, *others = list(GUESTS)[:3]
    address, _ = GUESTS[first]
    harness.bind(list(GUESTS)[:3])
    assert (first, address) in lease_pairs(harness)

    harness.bind(others, **{CLIENT_MAC: (address, "client")})
    run = udhcpc(client)

    assert run.returncode == 0, run.stderr
    assert f"lease of {address} obtained" in run.stderr
    assert (CLIENT_MAC, address) in lease_pairs(harness)
    assert (first, address) not in lease_pairs(harness)
    assert "DHCPRELEASE(br0) " + address in harness.log()


def test_killed_dnsmasq_is_restarted(lan, harness, guest_disk, tmp_path):
    """After SIGKILL dnsmasq comes back and a new guest gets its address."""
    server, _ = lan
    mac = list(GUESTS)[3]
    old = harness.send(pid=None)["pid"]
    os.kill(old, signal.SIGKILL)

    new = harness.bind([mac])
    guest = boot_guest(server, guest_disk, tmp_path, 3, mac)
    try:
        text = wait_for_ready(*guest)
    finally:
        stop_guest(guest[0])

    assert new not in (None, old)
    assert "exited with signal 9 (SIGKILL)" in harness.log()
    address, hostname = GUESTS[mac]
    assert f"ip={address} mask=24 router={SERVER} hostname={hostname}" in text
    assert (mac, address) in lease_pairs(harness)


def test_missing_bridge_is_reported(lan, directory):
    """A bridge that does not exist stops the start with its name."""
    server, _ = lan
    harness = Harness(server, directory, bridge="nosuch0")
    reply = harness.reply()
    assert harness.process.wait(timeout=10) == 2
    assert reply["error"].startswith("bridge nosuch0 not found")


def test_bridge_without_address_is_reported(lan, directory):
    """A bridge with no address in the range stops the start."""
    server, _ = lan
    ip("link", "add", "br1", "type", "bridge", netns=server)
    harness = Harness(server, directory, bridge="br1")
    reply = harness.reply()
    assert harness.process.wait(timeout=10) == 2
    assert (
        "bridge br1 has no IPv4 address in the DHCP range" in (reply["error"])
    )
    assert "ip addr add 10.213.21.1/24 dev br1" in reply["error"]


@pytest.fixture()
def two_networks(blackhole):
    """
    A namespace whose bridge ``br0`` has addresses in two networks,
    10.213.24.1/24 and 10.213.25.1/25, and a client namespace whose
    ``eth0`` (MAC :99) is a veth port of it. Yields both names.
    """
    suffix = uuid.uuid4().hex[:8]
    server, client = f"nano-dhcp2-{suffix}", f"nano-dhcpc2-{suffix}"
    subprocess.run(["ip", "netns", "add", server], check=True)
    subprocess.run(["ip", "netns", "add", client], check=True)
    try:
        ip("link", "set", "lo", "up", netns=server)
        ip("link", "add", "br0", "type", "bridge", netns=server)
        ip("addr", "add", "10.213.24.1/24", "dev", "br0", netns=server)
        ip("addr", "add", "10.213.25.1/25", "dev", "br0", netns=server)
        ip("link", "set", "br0", "up", netns=server)
        ip(
            "link", "add", "veth0", "type", "veth",
            "peer", "name", "eth0", "netns", client,
            netns=server,
        )  # fmt: skip
        ip("link", "set", "veth0", "master", "br0", "up", netns=server)
        ip("link", "set", "eth0", "address", CLIENT_MAC, netns=client)
        ip("link", "set", "eth0", "up", netns=client)
        yield server, client
    finally:
        subprocess.run(["ip", "netns", "del", client], check=False)
        subprocess.run(["ip", "netns", "del", server], check=False)


def leased_options(netns, directory):
    """Run udhcpc once and return the line its script prints on a lease."""
    script = directory / "print-lease.sh"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1" = bound ] && '
        'echo "LEASE ip=$ip subnet=$subnet router=$router dns=$dns"\n'
        "exit 0\n"
    )
    script.chmod(0o755)
    run = subprocess.run(
        [
            "ip", "netns", "exec", netns,
            "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f",
            "-t", "5", "-T", "1", "-A", "0", "-s", str(script),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    lines = [line for line in run.stdout.splitlines() if "LEASE" in line]
    assert lines, f"no lease: {run.stdout}{run.stderr}"
    return lines[-1]


def test_each_network_with_own_options(two_networks, directory):
    """
    One dnsmasq serves bindings in two networks, each with its netmask
    and the router and DNS servers of its instances, also where the
    router differs from the bridge address, and reads changed bindings
    on SIGHUP while a lease exists.
    """
    server, client = two_networks
    work = directory / "two-networks"
    work.mkdir(mode=0o755)
    running = Harness(
        server, work, networks=("10.213.24.0/24", "10.213.25.0/25")
    )
    try:
        small = {"prefix": 25, "gateway": "10.213.25.126", "dns": []}
        pid = running.send(
            bind={CLIENT_MAC: ["10.213.25.50", "client", small]}
        )["bound"]
        line = leased_options(client, work)
        assert "ip=10.213.25.50 subnet=255.255.255.128" in line
        assert "router=10.213.25.126 dns=" in line

        large = {
            "prefix": 24,
            "gateway": "10.213.24.254",
            "dns": ["10.213.24.1"],
        }
        bindings = {
            CLIENT_MAC: ["10.213.24.77", "client", large],
            "52:54:00:d4:00:01": ["10.213.25.51", "other", small],
        }
        assert running.send(bind=bindings)["bound"] == pid, running.log()
        line = leased_options(client, work)
        assert "ip=10.213.24.77 subnet=255.255.255.0" in line
        assert "router=10.213.24.254 dns=10.213.24.1" in line
    finally:
        running.close()
