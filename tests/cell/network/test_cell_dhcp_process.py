"""
``twistd nano-cell`` with a bridge, on a private libvirtd with real QEMU
and the real dnsmasq. Guests created with a ``dhcp`` network lease their
addresses. After a SIGKILL of the Cell, the restarted Cell takes over
the bindings from its journal.

The bridge lives in the root namespace, because the private libvirtd
does, but it has no uplink and only a 10.213.22.0/24 address.
"""

import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest
import pytest_twisted
from twisted.internet import threads

from nano.cell.network import read_leases
from nano.messages import (
    ComputeCellReady,
    CreateInstanceRequest,
    DeleteInstanceRequest,
)

from ..qemu_helpers import GUEST_IMAGE, MIB, SECRET, RecordingCore, wait_until

TWISTD = Path(sys.executable).parent / "twistd"
STOP_TIMEOUT = 15.0
GATEWAY = "10.213.22.1"
GUESTS = {
    "52:54:00:d5:00:01": "10.213.22.11",
    "52:54:00:d5:00:02": "10.213.22.12",
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(
        shutil.which("dnsmasq", path="/usr/sbin:/sbin:/usr/bin") is None,
        reason="dnsmasq is not installed (apt-get install dnsmasq-base)",
    ),
]


class CellProcess:
    """One ``twistd nano-cell`` process using ``bridge``."""

    def __init__(self, root, uri, core_address, bridge):
        self.root = Path(root)
        self.config = self.root / "config"
        self.data = self.root / "data"
        self.log_path = self.root / "cell.log"
        self.core_address = core_address
        self.process = None
        self.config.mkdir(parents=True)
        self._write("domain.cfg", secret=SECRET.hex(), interface="127.0.0.1")
        self._write(
            "cell.cfg",
            libvirt_uri=uri,
            domain_type="qemu",
            storage_directory=str(self.root / "volumes"),
            bridge=bridge,
        )

    def _write(self, name, **values):
        (self.config / name).write_bytes(orjson.dumps(values))

    def start(self):
        host, port = self.core_address
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(TWISTD), "-n", "--pidfile=", "nano-cell",
                    "--config", str(self.config),
                    "--data", str(self.data),
                    "--name", "Cell_dhcp",
                    "--core", f"{host}:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def kill(self):
        """Kill the Cell at once; its dnsmasq is left running."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)

    def stop(self):
        """Stop the Cell with SIGTERM, by its PID."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()

    def dnsmasq_pid(self):
        """The pid in dnsmasq's pid file, or ``None``."""
        path = self.data / "dhcp" / "dnsmasq.pid"
        return int(path.read_text()) if path.exists() else None

    def hosts(self):
        return (self.data / "dhcp" / "hosts").read_text()

    def leases(self):
        path = self.data / "dhcp" / "leases"
        return {(lease.mac, lease.address) for lease in read_leases(path)}

    def console(self, instance_id):
        path = self.data / "consoles" / f"{instance_id}.log"
        if not path.exists():
            return ""
        return path.read_bytes().decode("ascii", "replace")

    def log_tail(self):
        return self.log_path.read_text(errors="replace")[-3000:]


def dnsmasq_running(pid, data):
    """Whether ``pid`` is a dnsmasq serving files under ``data``."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"dnsmasq" in command and str(data).encode() in command


@pytest.fixture
def bridge(blackhole):
    """A bridge with no uplink and the address 10.213.22.1/24."""
    name = f"nanod{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        subprocess.run(
            ["ip", "addr", "add", f"{GATEWAY}/24", "dev", name], check=True
        )
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


@pytest.fixture
def core():
    """A test Core listening for the fabric on loopback."""
    core = RecordingCore()
    yield core
    pytest_twisted.blockon(core.close())


@pytest.fixture
def cell(private_libvirtd, core, bridge, open_directory):
    """A Cell process on ``bridge``, stopped with its dnsmasq after."""
    root = open_directory / uuid.uuid4().hex[:8]
    root.mkdir(mode=0o755)
    cell = CellProcess(root, private_libvirtd.uri, core.address, bridge)
    yield cell
    # The test Core acknowledges the Cell's graceful close only while the
    # reactor runs, so wait for the process in a thread.
    pytest_twisted.blockon(threads.deferToThread(cell.stop))
    pid = cell.dnsmasq_pid()
    if pid is not None and dnsmasq_running(pid, cell.data):
        os.kill(pid, signal.SIGKILL)


def create_request(mac):
    instance_id = str(uuid.uuid4())
    return CreateInstanceRequest(
        task_id=f"task-{instance_id[:8]}",
        instance_id=instance_id,
        name=f"group.guest-{mac[-1]}",
        cores=1,
        memory=128 * MIB,
        disks=[64 * MIB],
        image=GUEST_IMAGE,
        mac=mac,
        network={
            "address": GUESTS[mac],
            "prefix": 24,
            "gateway": GATEWAY,
            "dns": [GATEWAY],
            "provider": "dhcp",
        },
        start=True,
    )


async def create_and_lease(cell, core, mac):
    """Create a started guest and wait for its lease on the console."""
    request = create_request(mac)
    reply = await core.request(request)
    assert reply.instance["state"] == "running"
    address = GUESTS[mac]
    await wait_until(
        lambda: "NANO-GUEST-READY" in cell.console(request.instance_id),
        "guest ready: " + cell.log_tail(),
    )
    text = cell.console(request.instance_id)
    assert f"NANO-GUEST-LEASE iface=eth0 ip={address} mask=24" in text
    assert f"router={GATEWAY} hostname=guest-{mac[-1]}" in text
    return request.instance_id


@pytest_twisted.ensureDeferred
async def test_cell_restart_keeps_bindings(cell, core):
    """
    A guest leases its address. After SIGKILL the restarted Cell stops
    the old dnsmasq and serves the journalled binding with its lease
    kept, then a new guest. A graceful stop ends dnsmasq too. Deleting
    both guests releases the first lease and then stops dnsmasq.
    """
    if not os.path.exists(GUEST_IMAGE):
        pytest.skip(f"{GUEST_IMAGE} missing: run tools/build-test-guest")
    first, second = GUESTS
    cell.start()
    await wait_until(
        lambda: core.of_type(ComputeCellReady), "ready: " + cell.log_tail()
    )
    first_id = await create_and_lease(cell, core, first)
    assert (first, GUESTS[first]) in cell.leases()
    old = cell.dnsmasq_pid()

    cell.kill()
    assert dnsmasq_running(old, cell.data)
    core.received.clear()
    cell.start()
    await wait_until(
        lambda: core.of_type(ComputeCellReady),
        "ready after restart: " + cell.log_tail(),
    )
    await wait_until(
        lambda: cell.dnsmasq_pid() not in (None, old),
        "new dnsmasq: " + cell.log_tail(),
    )
    assert not dnsmasq_running(old, cell.data)
    assert dnsmasq_running(cell.dnsmasq_pid(), cell.data)
    assert f"{first},{GUESTS[first]},guest-1\n" in cell.hosts()
    assert (first, GUESTS[first]) in cell.leases()

    second_id = await create_and_lease(cell, core, second)
    serving = cell.dnsmasq_pid()
    await threads.deferToThread(cell.stop)
    assert not dnsmasq_running(serving, cell.data)
    core.received.clear()
    cell.start()
    await wait_until(
        lambda: core.of_type(ComputeCellReady),
        "ready after stop: " + cell.log_tail(),
    )
    await core.request(
        DeleteInstanceRequest(task_id="task-d1", instance_id=first_id)
    )
    await wait_until(
        lambda: (first, GUESTS[first]) not in cell.leases(),
        "first lease released: " + cell.log_tail(),
    )
    assert cell.hosts() == f"{second},{GUESTS[second]},guest-2\n"

    last = cell.dnsmasq_pid()
    await core.request(
        DeleteInstanceRequest(task_id="task-d2", instance_id=second_id)
    )
    await wait_until(
        lambda: not dnsmasq_running(last, cell.data),
        "dnsmasq stopped: " + cell.log_tail(),
    )
