"""
``twistd nano-core`` with a Cell process on the real fabric: UDP on
loopback, with Core's address given to the Cell. The Cell is listed and
joins a pool. After Core is killed and restarted, the Cell is still in
its pool and reports again, and once the Cell is killed it is lost.
"""

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_core_process import Core

from nano.config import write_atomic

pytestmark = pytest.mark.slow
FAKE_CELL = Path(__file__).parent / "fake_cell_node.py"
TWISTD = Path(sys.executable).parent / "twistd"
CELL = "Cell_process"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CellProcess:
    """fake_cell_node.py as a process; its event lines are queued."""

    def __init__(self, config: Path, core_port: int):
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(FAKE_CELL),
                "--config",
                str(config),
                "--name",
                CELL,
                "--core",
                f"127.0.0.1:{core_port}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.events = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def wait_for(self, event, timeout=10.0, **fields):
        """Return the next line of ``event`` with ``fields``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.events.get(timeout=0.1)
            except queue.Empty:
                continue
            if line["event"] == event and fields.items() <= line.items():
                return line
        raise AssertionError(f"Cell printed no {event} {fields}")

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


def wait_for_data(core, path, check, timeout=10.0):
    """
    Read ``path`` until ``check(data)`` is true, and return that data.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = cells_of(core, path)
        if check(data):
            return data
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting on {path}; last: {data}")


class NanoCell:
    """``twistd nano-cell`` on libvirt's test driver, as a process."""

    def __init__(self, root: Path, core_port: int):
        self.log_path = root / "cell.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(TWISTD),
                    "-n",
                    "--pidfile=",
                    "nano-cell",
                    "--config",
                    str(root / "config"),
                    "--data",
                    str(root / "cell-data"),
                    "--libvirt-uri",
                    "test:///default",
                    "--domain-type",
                    "qemu",
                    "--name",
                    CELL,
                    "--core",
                    f"127.0.0.1:{core_port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


@pytest.fixture
def cluster(tmp_path):
    """A Core with fast fabric timers, and a Cell started on demand."""
    core = Core(tmp_path)
    config = tmp_path / "config"
    config.mkdir()
    fabric_port = free_udp_port()
    write_atomic(
        config / "domain.cfg",
        {
            "secret": "5e" * 32,
            "interface": "127.0.0.1",
            "listen_port": fabric_port,
            "heartbeat_interval": 0.3,
            "lost_after": 1.0,
            "disconnect_after": 1.5,
            "request_timeout": 3.0,
        },
        mode=0o600,
    )
    cells = []

    def start_cell(real=False):
        if real:
            cell = NanoCell(tmp_path, fabric_port)
        else:
            cell = CellProcess(config / "domain.cfg", fabric_port)
        cells.append(cell)
        return cell

    yield core, start_cell
    for cell in cells:
        cell.kill()
    if core.process and core.process.poll() is None:
        core.stop(signal.SIGKILL)


def cells_of(core, path):
    status, reply = core.call("GET", path)
    assert status == 200, reply
    return reply["data"]


def test_cell_joins_pool_and_survives_core_restart(cluster):
    """The whole path with real processes and sockets."""
    core, start_cell = cluster
    core.start()
    cell = start_cell()
    cell.wait_for("connected")
    listed = wait_for_data(core, "/api/v1/compute_pool_cells/", bool)
    assert [(c["name"], c["alive"]) for c in listed] == [(CELL, True)]

    assert core.call("POST", "/api/v1/compute_pools/p")[0] == 200
    status, reply = core.call("POST", f"/api/v1/compute_pool_cells/p/{CELL}")
    assert status == 200, reply
    cell.wait_for("pool", pool="p")
    pool = wait_for_data(
        core, "/api/v1/compute_pool_status/p", lambda p: p["max_cpu"]
    )
    assert pool["cells"] == [0, 1]
    assert pool["max_cpu"] == 4
    assert pool["cpu_usage"] == 50.0

    core.stop(signal.SIGKILL)
    core.start()
    members = cells_of(core, "/api/v1/compute_pool_cells/p")
    assert [m["name"] for m in members] == [CELL]
    cell.wait_for("pool", pool="p", timeout=15)
    status = wait_for_data(
        core, f"/api/v1/compute_cell_status/p/{CELL}", lambda c: c["alive"]
    )
    assert status["instances"] == [0, 1, 0, 0]
    instances = cells_of(core, "/api/v1/instance_status/p")
    assert [i["id"] for i in instances] == ["instance-1"]

    cell.kill()
    wait_for_data(
        core, "/api/v1/compute_pool_cells/p", lambda c: not c[0]["alive"]
    )
    assert cells_of(core, "/api/v1/compute_pool_status/p")["cells"] == [1, 0]


def test_real_cell_reports(cluster):
    """nano-cell on libvirt's test driver joins a pool and reports."""
    pytest.importorskip("libvirt")
    core, start_cell = cluster
    core.start()
    start_cell(real=True)
    wait_for_data(core, "/api/v1/compute_pool_cells/", bool, timeout=20)
    assert core.call("POST", "/api/v1/compute_pools/p")[0] == 200
    status, reply = core.call("POST", f"/api/v1/compute_pool_cells/p/{CELL}")
    assert status == 200, reply
    cell = wait_for_data(
        core, f"/api/v1/compute_cell_status/p/{CELL}", lambda c: c["max_cpu"]
    )
    assert cell["alive"]
    assert cell["max_memory"] > 0
    assert cell["max_disk"] > 0
    assert cell["instances"] == [0, 0, 0, 0]
    assert f"Cell {CELL} confirmed pool p with 0 instances" in core.log()
