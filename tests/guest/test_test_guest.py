"""
The test guest that tools/build-test-guest makes from Debian packages
boots under QEMU and reports on its serial console.
"""

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILDER = ROOT / "tools" / "build-test-guest"
GUEST = Path("/var/tmp/nano-test-guest")
BOOT_TIMEOUT = 60

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (apt, netns)"),
    pytest.mark.skipif(
        shutil.which("qemu-system-x86_64") is None,
        reason="qemu-system-x86_64 is not installed (tools/install)",
    ),
]


@pytest.fixture(scope="module")
def guest():
    """Build the test guest once per run, reusing an up-to-date build."""
    subprocess.run([str(BUILDER), str(GUEST)], check=True)
    return GUEST


def boot(tmp_path, disk, *qemu_arguments, netns=None, wait_for):
    """
    Boot a copy-on-write overlay of ``disk`` under TCG and wait until the
    serial log contains ``wait_for``. Return the serial log's text.
    """
    overlay = tmp_path / "overlay.qcow2"
    serial = tmp_path / "serial.log"
    create = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2"]
    subprocess.run([*create, "-b", str(disk), str(overlay)], check=True)
    command = [
        "qemu-system-x86_64", "-machine", "pc,accel=tcg", "-m", "128",
        "-display", "none", "-monitor", "none", "-no-reboot",
        "-drive", f"file={overlay},if=virtio",
        "-serial", f"file:{serial}",
        *qemu_arguments,
    ]  # fmt: skip
    if netns:
        command = ["ip", "netns", "exec", netns, *command]
    qemu = subprocess.Popen(command, stderr=subprocess.PIPE)
    try:
        return wait_for_line(serial, wait_for, qemu)
    finally:
        qemu.kill()
        qemu.wait()


def wait_for_line(path, marker, process):
    deadline = time.monotonic() + BOOT_TIMEOUT
    text = ""
    while time.monotonic() < deadline:
        if path.exists():
            text = path.read_bytes().decode("ascii", "replace")
            if marker in text:
                return text
        if process.poll() is not None:
            pytest.fail(
                f"QEMU exited with {process.returncode}: "
                f"{process.stderr.read().decode()}\nserial:\n{text}"
            )
        time.sleep(0.2)
    pytest.fail(f"no {marker} within {BOOT_TIMEOUT} s; serial:\n{text}")


def test_manifest_matches_files(guest):
    """The manifest records each output file's real size."""
    manifest = json.loads((guest / "manifest.json").read_text())
    for name, facts in manifest["files"].items():
        assert (guest / name).stat().st_size == facts["size"], name


def test_disk_boots_without_network(tmp_path, guest):
    """With no NIC the guest boots, prints its marker and starts its shell."""
    text = boot(
        tmp_path,
        guest / "nano-test-guest.qcow2",
        "-nic", "none",
        wait_for="NANO-GUEST-READY",
    )  # fmt: skip
    assert "NANO-GUEST-BOOTED hostname=nano-guest" in text
    assert "NANO-GUEST-INSMOD-FAILED" not in text


@pytest.fixture
def bridge_netns(tmp_path):
    """
    A network namespace with a bridge, a tap for QEMU and dnsmasq serving
    one fixed binding. Yields (netns, mac, address), then removes it all.
    """
    netns = f"nano-tg-{uuid.uuid4().hex[:8]}"
    mac, address = "52:54:00:4e:00:01", "10.213.7.50"
    pidfile = tmp_path / "dnsmasq.pid"

    def run(*command):
        subprocess.run(["ip", "netns", "exec", netns, *command], check=True)

    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        run("ip", "link", "set", "lo", "up")
        run("ip", "link", "add", "br0", "type", "bridge")
        run("ip", "addr", "add", "10.213.7.1/24", "dev", "br0")
        run("ip", "link", "set", "br0", "up")
        run("ip", "tuntap", "add", "tap0", "mode", "tap")
        run("ip", "link", "set", "tap0", "master", "br0", "up")
        run(
            "dnsmasq", "--conf-file=/dev/null", "--port=0",
            "--bind-interfaces", "--interface=br0", "--no-ping",
            "--dhcp-range=10.213.7.0,static,255.255.255.0,1h",
            f"--dhcp-host={mac},{address},guest-one",
            "--dhcp-option=3,10.213.7.1", "--dhcp-option=6",
            f"--dhcp-leasefile={tmp_path / 'leases'}",
            f"--pid-file={pidfile}",
        )  # fmt: skip
        yield netns, mac, address
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), 15)
        subprocess.run(["ip", "netns", "del", netns], check=False)


def test_disk_gets_dhcp_lease(tmp_path, guest, bridge_netns):
    """On a bridge with DHCP the guest takes its address and hostname."""
    netns, mac, address = bridge_netns
    text = boot(
        tmp_path,
        guest / "nano-test-guest.qcow2",
        "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
        "-device", f"virtio-net-pci,netdev=n0,mac={mac}",
        netns=netns,
        wait_for="NANO-GUEST-READY",
    )  # fmt: skip
    assert f"NANO-GUEST-LEASE iface=eth0 ip={address} mask=24" in text
    assert "router=10.213.7.1 hostname=guest-one" in text
