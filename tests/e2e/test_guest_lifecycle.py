"""
A guest's whole life through the signed REST API, with real processes:
``twistd nano-core``, ``twistd nano-cell`` on a private libvirtd, and
QEMU (domain type ``qemu``). Nothing here is a fake.
"""

import signal
import subprocess

import pytest

from .guest_helpers import CELL, create_guest, domain_state
from .processes import wait_until

libvirt = pytest.importorskip("libvirt")

pytestmark = [pytest.mark.slow, pytest.mark.root]


def test_create_stop_start_delete(cluster):
    """A guest is created running, stops, starts and is deleted."""
    core, cell, uri = cluster
    guest_id = create_guest(core)
    created = wait_until(
        lambda: core.data("GET", f"/api/v1/guests/{guest_id}")["created"],
        60,
        "the guest to be created",
    )
    assert created
    assert domain_state(uri, guest_id) == libvirt.VIR_DOMAIN_RUNNING
    status = core.data("GET", f"/api/v1/instances/{guest_id}")
    assert status["state"] == "running"

    body = {"reboot": False, "force": True}
    core.data("DELETE", f"/api/v1/instances/{guest_id}", body)
    assert domain_state(uri, guest_id) == libvirt.VIR_DOMAIN_SHUTOFF
    core.data("POST", f"/api/v1/instances/{guest_id}")
    assert domain_state(uri, guest_id) == libvirt.VIR_DOMAIN_RUNNING

    core.data("DELETE", f"/api/v1/guests/{guest_id}")
    assert domain_state(uri, guest_id) is None
    assert list(cell.volumes.iterdir()) == []
    code, envelope = core.call("GET", f"/api/v1/guests/{guest_id}")
    assert code == 404, envelope


def guest_status(core, guest_id):
    return core.data("GET", f"/api/v1/guests/{guest_id}").get("status")


def assert_nothing_left(core, cell, uri, guest_id):
    """Neither libvirt, the Cell's volumes nor Core's view hold it."""
    assert domain_state(uri, guest_id) is None
    assert list(cell.volumes.iterdir()) == []
    instances = core.data("GET", f"/api/v1/instance_status/p/{CELL}")
    assert [i["id"] for i in instances] == []


def test_cell_error_rolls_back(cluster):
    """
    A Cell that cannot write the volume fails the create; Core rolls it
    back, and the guest shows the error.
    """
    core, cell, uri = cluster
    subprocess.run(["chattr", "+i", str(cell.volumes)], check=True)
    try:
        guest_id = create_guest(core)
        wait_until(
            lambda: guest_status(core, guest_id) == "rolled back",
            60,
            "the rollback",
        )
    finally:
        subprocess.run(["chattr", "-i", str(cell.volumes)], check=True)
    guest = core.data("GET", f"/api/v1/guests/{guest_id}")
    assert guest["created"] is False
    assert "step create failed" in guest["error"]
    assert_nothing_left(core, cell, uri, guest_id)


def test_core_killed_mid_create(cluster):
    """
    Core killed with SIGKILL while the Cell creates an instance rolls
    the creation back when it starts again.
    """
    core, cell, uri = cluster
    cell.process.send_signal(signal.SIGSTOP)
    try:
        guest_id = create_guest(core)
        core.kill()
        core.start()
    finally:
        cell.process.send_signal(signal.SIGCONT)
    wait_until(
        lambda: guest_status(core, guest_id) == "rolled back",
        60,
        "the rollback",
    )
    guest = core.data("GET", f"/api/v1/guests/{guest_id}")
    assert guest["error"] == "Core restarted before the guest was created"
    wait_until(
        lambda: domain_state(uri, guest_id) is None, 10, "the domain to go"
    )
    assert_nothing_left(core, cell, uri, guest_id)
