"""
The real ``tools/quickstart`` with its own state directory, bridge and
ports: it ends with a booted guest, and ``stop`` leaves nothing behind.
"""

import os
import secrets
import socket
import subprocess
from pathlib import Path

import pytest

from nano.testing.libvirtd import unavailable_reason

pytestmark = [pytest.mark.slow, pytest.mark.root]
QUICKSTART = Path(__file__).resolve().parents[2] / "tools" / "quickstart"
#: A /24 that no other test of this repository uses.
BRIDGE_ADDRESS = "10.213.246.1/24"


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
def quickstart(tmp_path):
    """The quick start's options; stops it however the test ends."""
    if reason := unavailable_reason():
        pytest.skip(reason)
    state = tmp_path / "state"
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


def test_quickstart_boots_guest_and_stops(quickstart):
    """One run boots a guest; a second reuses it; stop removes it all."""
    state, options = quickstart
    bridge = options[options.index("--bridge") + 1]

    code, output = run("--skip-install", *options)
    assert code == 0, output
    assert "NANO-GUEST-BOOTED" in output
    assert "[10/10]" in output
    assert "tools/quickstart stop" in output
    pids = pids_of(state)
    assert all(alive(pid) for pid in pids.values()), pids
    assert link_exists(bridge)

    code, again = run("--skip-install", "--state-dir", str(state))
    assert code == 0, again
    assert "already uploaded" in again
    assert "already created" in again
    assert pids_of(state) == pids

    code, stopped = run("stop", "--state-dir", str(state), timeout=120)
    assert code == 0, stopped
    assert "deleted guest quickstart-vm" in stopped
    assert [name for name, pid in pids.items() if alive(pid)] == []
    assert processes_mentioning(str(state)) == []
    assert not link_exists(bridge)
