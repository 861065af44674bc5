"""
``twistd nano-cell`` as a real process on a private libvirtd: killed
with SIGKILL while an instance runs and another is being created, it
comes back with the running instance, rolls the cut-short create back,
and reports the whole list to Core.
"""

import os
import signal
import subprocess
import sys
import uuid as uuid_module
from pathlib import Path

import orjson
import pytest
import pytest_twisted

from nano.messages import (
    ComputeCellReady,
    CreateInstanceRequest,
    DeleteInstanceRequest,
)

from .qemu_helpers import GUEST_IMAGE, MIB, SECRET, RecordingCore, wait_until

TWISTD = Path(sys.executable).parent / "twistd"
STOP_TIMEOUT = 15.0

pytestmark = [pytest.mark.slow, pytest.mark.root]


class CellProcess:
    """One ``twistd nano-cell`` process with its own directories."""

    def __init__(self, root, uri, core_address):
        self.root = Path(root)
        self.config = self.root / "config"
        self.data = self.root / "data"
        self.volumes = self.root / "volumes"
        self.log_path = self.root / "cell.log"
        self.core_address = core_address
        self.process = None
        self.config.mkdir(parents=True)
        self.volumes.mkdir()
        self._write("domain.cfg", secret=SECRET.hex(), interface="127.0.0.1")
        self._write(
            "cell.cfg",
            libvirt_uri=uri,
            domain_type="qemu",
            storage_directory=str(self.volumes),
        )

    def _write(self, name, **values):
        (self.config / name).write_bytes(orjson.dumps(values))

    def start(self):
        """Start the process; its output goes to ``cell.log``."""
        host, port = self.core_address
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(TWISTD),
                    "-n",
                    "--pidfile=",
                    "nano-cell",
                    "--config",
                    str(self.config),
                    "--data",
                    str(self.data),
                    "--name",
                    "Cell_process",
                    "--core",
                    f"{host}:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self):
        """Kill the process at once, as a power cut would."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)

    def stop(self):
        """Stop the process with SIGTERM, by its PID."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()

    def journal_text(self):
        """Return the journal's segments as one text, for searching."""
        directory = self.data / "journal"
        if not directory.is_dir():
            return ""
        return "".join(
            path.read_text(errors="replace")
            for path in sorted(directory.glob("*.jsonl"))
        )

    def log_tail(self):
        return self.log_path.read_text(errors="replace")[-3000:]


@pytest.fixture
def core():
    """A test Core listening for the fabric on loopback."""
    core = RecordingCore()
    yield core
    pytest_twisted.blockon(core.close())


@pytest.fixture
def cell(private_libvirtd, core, tmp_path):
    """A Cell process, stopped after the test."""
    cell = CellProcess(tmp_path / "cell", private_libvirtd.uri, core.address)
    yield cell
    cell.stop()


@pytest.fixture
def blocking_image(tmp_path):
    """
    A FIFO in place of an image: ``qemu-img info`` blocks opening it, so
    a create that uses it stays in flight. The FIFO is opened for
    writing and closed afterwards, so a blocked ``qemu-img`` exits.
    """
    path = tmp_path / "image.fifo"
    os.mkfifo(path)
    yield path
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return  # ENXIO: no reader is waiting
    os.close(descriptor)


def create_request(instance_id, image, **fields):
    return CreateInstanceRequest(
        task_id=f"task-{instance_id[:8]}",
        instance_id=instance_id,
        name=instance_id[:8],
        cores=1,
        memory=128 * MIB,
        disks=[64 * MIB],
        image=str(image),
        **fields,
    )


@pytest_twisted.ensureDeferred
async def test_killed_cell_recovers(
    cell, core, private_libvirtd, blocking_image
):
    """
    After SIGKILL, the running instance is still running and reported,
    and the create in flight is rolled back with nothing left.
    """
    if not os.path.exists(GUEST_IMAGE):
        pytest.skip(f"{GUEST_IMAGE} missing: run tools/build-test-guest")
    running_id = str(uuid_module.uuid4())
    cut_id = str(uuid_module.uuid4())
    cell.start()
    await wait_until(
        lambda: core.of_type(ComputeCellReady),
        "first ready: " + cell.log_tail(),
    )

    reply = await core.request(
        create_request(running_id, GUEST_IMAGE, start=True)
    )
    assert reply.instance["state"] == "running"
    in_flight = core.request(create_request(cut_id, blocking_image))
    in_flight.addErrback(lambda _: None)
    await wait_until(
        lambda: cut_id in cell.journal_text(), "InstanceCreating journalled"
    )

    cell.kill()
    core.received.clear()
    cell.start()
    await wait_until(
        lambda: core.of_type(ComputeCellReady),
        "ready after restart: " + cell.log_tail(),
    )

    (ready,) = core.of_type(ComputeCellReady)
    states = {i["id"]: i["state"] for i in ready.instances}
    assert states == {running_id: "running"}
    assert "InstanceCreateFailed" in cell.journal_text()
    assert sorted(os.listdir(cell.volumes)) == [f"{running_id}-0.qcow2"]

    await core.request(
        DeleteInstanceRequest(task_id="task-delete", instance_id=running_id)
    )
    assert os.listdir(cell.volumes) == []
    assert list_domains(private_libvirtd) == []


def list_domains(daemon):
    import libvirt

    connection = libvirt.open(daemon.uri)
    try:
        return [domain.name() for domain in connection.listAllDomains(0)]
    finally:
        connection.close()
