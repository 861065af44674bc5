"""
Tests of the quick start's safety checks that need no libvirtd: which
bridge it accepts, which PIDs it stops, and the port it writes into
Core's ``api.cfg``.
"""

import json
import subprocess
import sys

import pytest

from nano.cli.quickstart import _main
from nano.cli.quickstart._processes import running_pid, stop_pid
from nano.cli.quickstart._report import QuickstartError
from nano.cli.quickstart._start import _record_api_port
from nano.config import write_atomic

#: Run in a private network namespace: build the links that SETUP
#: lists, call ensure_bridge on "br0", print the error or None.
ENSURE_BRIDGE = """
import json, subprocess, sys
from nano.cli.quickstart._network import ensure_bridge
from nano.cli.quickstart._report import QuickstartError
for command in json.loads(sys.argv[1]):
    subprocess.run(["ip", *command.split()], check=True)
try:
    ensure_bridge("br0", "10.213.107.1/24")
    print(json.dumps(None))
except QuickstartError as error:
    print(json.dumps(str(error)))
"""


def ensure_bridge_in_namespace(*setup: str):
    """Return the error of ensure_bridge after ``setup`` ip commands."""
    probe = subprocess.run(["unshare", "-rn", "true"], check=False)
    if probe.returncode != 0:
        pytest.skip("unshare -rn is not permitted here")
    command = ["unshare", "-rn", sys.executable, "-c", ENSURE_BRIDGE]
    done = subprocess.run(
        [*command, json.dumps(list(setup))],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_bridge_of_default_route_rejected():
    """A bridge that carries the default route is not reused."""
    error = ensure_bridge_in_namespace(
        "link add br0 type bridge",
        "link set dev br0 up",
        "address add 10.213.107.1/24 dev br0",
        "route add default via 10.213.107.254 dev br0",
    )

    assert error is not None
    assert "default route" in error
    assert "br0" in error


def test_own_bridge_reused():
    """A bridge with no port and no default route is reused."""
    error = ensure_bridge_in_namespace("link add br0 type bridge")

    assert error is None


def test_bridge_with_uplink_rejected():
    """A bridge with a port other than a guest's vnet is rejected."""
    error = ensure_bridge_in_namespace(
        "link add br0 type bridge",
        "link add eth9 type veth peer name eth9p",
        "link set dev eth9 master br0",
    )

    assert error is not None
    assert "eth9" in error


@pytest.fixture
def sleeper(tmp_path):
    """Start a process whose command line names ``tmp_path/x.pid``."""
    pidfile = tmp_path / "x.pid"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; time.sleep(60)",
            f"--pidfile={pidfile}",
        ]
    )
    pidfile.write_text(f"{process.pid}\n")
    yield process, pidfile
    process.kill()
    process.wait()


def test_running_pid_started_with_file(sleeper):
    """A process started with its PID file is found and stopped."""
    process, pidfile = sleeper

    assert running_pid(pidfile) == process.pid
    assert stop_pid(pidfile, timeout=5) == process.pid
    assert process.wait(5) is not None


def test_running_pid_other_file(sleeper, tmp_path):
    """A PID file naming a process started with another file is stale."""
    process, _ = sleeper
    other = tmp_path / "other.pid"
    other.write_text(f"{process.pid}\n")

    assert running_pid(other) is None
    assert stop_pid(other, timeout=5) is None
    assert process.poll() is None


def test_api_port_recorded(tmp_path):
    """The quick start's API port replaces 5870, keeping credentials."""
    api_cfg = tmp_path / "api.cfg"
    credentials = [{"id": "nano-1", "key": "k" * 43}]
    write_atomic(
        api_cfg, {"port": 5870, "credentials": credentials}, mode=0o600
    )

    _record_api_port(api_cfg, 15870)

    value = json.loads(api_cfg.read_text())
    assert value["port"] == 15870
    assert value["credentials"] == credentials
    assert api_cfg.stat().st_mode & 0o777 == 0o600


def test_saved_port_out_of_range(tmp_path):
    """A port above 65535 saved by an older quick start is named."""
    saved = {"state_dir": str(tmp_path), "api_port": 70000}
    (tmp_path / "quickstart.json").write_text(json.dumps(saved))

    with pytest.raises(QuickstartError) as raised:
        _main._settings(str(tmp_path), {})

    assert "invalid api_port 70000" in str(raised.value)
    assert "delete it" in str(raised.value)
