"""
The real ``tools/quickstart`` with its own state directory, bridge and
ports: it ends with a booted guest that leased the address Core
allocated, and ``stop`` leaves nothing behind.
"""

import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from nano.testing.libvirtd import unavailable_reason
from nano.testing.processes import free_port

pytestmark = [pytest.mark.slow, pytest.mark.root]
QUICKSTART = Path(__file__).resolve().parents[2] / "tools" / "quickstart"
#: A /24 that no other test of this repository uses.
BRIDGE_ADDRESS = "10.213.246.1/24"
#: The address pool's default range: .100-.199 of the bridge's /24.
POOL_RANGE = ("10.213.246.100", "10.213.246.199")
NANO = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "nano"
SUMMARY_GUEST = re.compile(r"Guest: +\S+ \(([0-9a-f-]+)\), address (\S+)")


def run(*arguments, timeout=600):
    """Run tools/quickstart; return its exit code and output."""
    completed = subprocess.run(
        [str(QUICKSTART), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return completed.returncode, completed.stdout


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def processes_mentioning(text: str) -> list[str]:
    """Return the command lines of running processes that contain text."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if text.encode() in command:
            found.append(command.decode(errors="replace"))
    return found


def link_exists(name: str) -> bool:
    shown = subprocess.run(
        ["ip", "link", "show", "dev", name], capture_output=True
    )
    return shown.returncode == 0


@pytest.fixture
def open_directory():
    """
    A directory under /tmp that dnsmasq's unprivileged user can pass
    through. pytest's own temporary directories will not do: each new
    pytest process sets /tmp/pytest-of-USER back to mode 0700.
    """
    path = Path(tempfile.mkdtemp(prefix="nano-quickstart-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def quickstart(open_directory):
    """The quick start's options; stops it however the test ends."""
    if reason := unavailable_reason():
        pytest.skip(reason)
    state = open_directory / "state"
    options = [
        "--state-dir",
        str(state),
        "--bridge",
        f"nqs{secrets.token_hex(3)}",
        "--bridge-address",
        BRIDGE_ADDRESS,
        "--api-port",
        str(free_port()),
        "--image-port",
        str(free_port()),
        "--group-port",
        str(free_port(socket.SOCK_DGRAM)),
    ]
    yield state, options
    run("stop", "--state-dir", str(state), timeout=120)


def pids_of(state: Path) -> dict[str, int]:
    files = {
        "core": state / "run" / "core.pid",
        "cell": state / "run" / "cell.pid",
        "libvirtd": state / "libvirt" / "libvirtd.pid",
    }
    return {name: int(path.read_text()) for name, path in files.items()}


def dnsmasq_pid(state: Path) -> int:
    """Return the PID of the quick start Cell's dnsmasq."""
    return int((state / "cell" / "data" / "dhcp" / "dnsmasq.pid").read_text())


def summary_guest(output: str) -> tuple[str, str]:
    """Return the guest id and address the summary printed."""
    found = SUMMARY_GUEST.search(output)
    assert found, output
    return found.group(1), found.group(2)


def nano(state: Path, options, *arguments) -> str:
    """Run ``nano ARGUMENTS`` against the quick start's Core."""
    completed = attempt(state, options, *arguments)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def placed(state: Path, options, *arguments) -> str:
    """
    Run ``nano ARGUMENTS`` (a guest create), again while the scheduler
    finds no Cell, because the busy test machine's CPU load is above
    the scheduler's limit.
    """
    deadline = time.monotonic() + 60
    while True:
        completed = attempt(state, options, *arguments)
        unplaced = "no Cell of compute pool" in completed.stderr
        if not unplaced or time.monotonic() > deadline:
            assert completed.returncode == 0, completed.stderr
            return completed.stdout
        time.sleep(1)


def attempt(state: Path, options, *arguments):
    port = options[options.index("--api-port") + 1]
    return subprocess.run(
        [
            str(NANO),
            "--config",
            str(state / "core" / "config" / "api.cfg"),
            "--api",
            f"127.0.0.1:{port}",
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def allocated_address(state: Path, options, guest_id: str) -> str:
    """Return the address Core allocated to the guest (GET /guests/)."""
    shown = nano(state, options, "--json", "guest", "show", guest_id)
    return json.loads(shown)["internal"]["allocated_address"]


def in_pool_range(address: str) -> bool:
    start, end = (ipaddress.ip_address(bound) for bound in POOL_RANGE)
    return start <= ipaddress.ip_address(address) <= end


def test_quickstart_boots_guest_and_stops(quickstart):
    """
    One run boots a guest that leases Core's address, and a second
    reuses it and the pools. A third binds the address pool and
    replaces a guest without an address. stop removes it all, dnsmasq
    included.
    """
    state, options = quickstart
    bridge = options[options.index("--bridge") + 1]

    code, output = run("--skip-install", *options)
    assert code == 0, output
    assert "NANO-GUEST-BOOTED" in output
    assert "[11/11]" in output
    assert "tools/quickstart stop" in output
    guest_id, address = summary_guest(output)
    assert in_pool_range(address), address
    assert address == allocated_address(state, options, guest_id)
    assert f"leased {address}, the address Core allocated" in output
    pids = pids_of(state)
    assert all(alive(pid) for pid in pids.values()), pids
    dnsmasq = dnsmasq_pid(state)
    assert alive(dnsmasq)
    assert link_exists(bridge)

    code, again = run("--skip-install", "--state-dir", str(state))
    assert code == 0, again
    assert "already uploaded" in again
    assert "already created" in again
    assert "address pool default has ranges" in again
    assert "compute pool default uses default" in again
    assert summary_guest(again) == (guest_id, address)
    assert pids_of(state) == pids

    # A state directory of a quick start from before address pools: the
    # compute pool has no network and the guest no address.
    image_id = re.search(r"image ([0-9a-f-]+)", again).group(1)
    nano(state, options, "guest", "delete", guest_id)
    nano(state, options, "pool", "modify", "default", "--network", "")
    old_id = placed(
        state, options, "--json", "guest", "create", "quickstart-vm",
        "--pool", "default", "--image", image_id, "--memory", "128M",
        "--wait",
    )  # fmt: skip
    old_id = json.loads(old_id)["id"]
    code, upgraded = run("--skip-install", "--state-dir", str(state))
    assert code == 0, upgraded
    assert "bound address pool default to compute pool default" in upgraded
    assert f"deleting guest {old_id}: it has no address" in upgraded
    new_id, new_address = summary_guest(upgraded)
    assert new_id != old_id
    assert new_address == allocated_address(state, options, new_id)
    assert in_pool_range(new_address), new_address
    # The Cell ended its dnsmasq with the last DHCP guest, and started
    # another one for the new guest.
    assert not alive(dnsmasq)
    dnsmasq = dnsmasq_pid(state)
    assert alive(dnsmasq)

    code, stopped = run("stop", "--state-dir", str(state), timeout=120)
    assert code == 0, stopped
    assert "deleted guest quickstart-vm" in stopped
    assert [name for name, pid in pids.items() if alive(pid)] == []
    assert not alive(dnsmasq)
    assert f"dnsmasq PID {dnsmasq} has ended" in stopped
    assert processes_mentioning(str(state)) == []
    assert not link_exists(bridge)


def test_stop_ends_dnsmasq_of_killed_cell(quickstart):
    """A Cell killed with SIGKILL leaves dnsmasq running; stop ends it."""
    state, options = quickstart
    code, output = run("--skip-install", *options)
    assert code == 0, output
    dnsmasq = dnsmasq_pid(state)
    cell = pids_of(state)["cell"]
    os.kill(cell, signal.SIGKILL)
    wait_until_dead(cell)
    assert alive(dnsmasq)

    code, stopped = run("stop", "--state-dir", str(state), timeout=120)
    assert code == 0, stopped
    assert f"stopped dnsmasq PID {dnsmasq}, which outlived the Cell" in (
        stopped
    )
    assert not alive(dnsmasq)
    assert processes_mentioning(str(state)) == []


def wait_until_dead(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"PID {pid} still runs"
        time.sleep(0.1)
