"""
Restarts with real processes and QEMU: ``nano-core`` or ``nano-cell``
killed with SIGKILL while instances run, and a domain stopped behind
their back while they are down, or with a creation in flight. Once
restarted, Core's view of the guests must match what libvirt runs, and
a creation cut short must be rolled back.
"""

import signal

import pytest

from .guest_helpers import (
    CELL,
    create_guest,
    destroy_domain,
    domain_state,
    wait_created,
)
from .processes import wait_until

libvirt = pytest.importorskip("libvirt")

pytestmark = [pytest.mark.slow, pytest.mark.root]


def two_running_guests(core):
    """Create two guests that start once created; return their ids."""
    ids = [create_guest(core, name=name) for name in ("e2e-a", "e2e-b")]
    for guest_id in ids:
        wait_created(core, guest_id)
    return ids


def listed_running(core):
    """Return ``{guest id: running}`` from GET /guest_search/."""
    guests = core.data("GET", "/api/v1/guest_search/?pool=p")
    return {guest["id"]: guest["running"] for guest in guests}


def libvirt_running(uri, ids):
    """Return ``{guest id: running}`` from libvirt's domain states."""
    return {
        guest_id: domain_state(uri, guest_id) == libvirt.VIR_DOMAIN_RUNNING
        for guest_id in ids
    }


def guest_status(core, guest_id):
    return core.data("GET", f"/api/v1/guests/{guest_id}").get("status")


def cell_alive(core):
    """Return whether Core shows the Cell connected."""
    cell = core.data("GET", f"/api/v1/compute_pool_cells/p/{CELL}")
    return cell["alive"]


def assert_core_matches_libvirt(core, uri, ids):
    """Core's list and each instance's status agree with libvirt."""
    expected = libvirt_running(uri, ids)
    wait_until(
        lambda: listed_running(core) == expected,
        30,
        f"Core's guest list to show {expected}",
    )
    for guest_id, running in expected.items():
        status = core.data("GET", f"/api/v1/instances/{guest_id}")
        assert status["state"] == ("running" if running else "stopped")
        assert status["running"] is running


def test_core_killed_with_instances_running(cluster):
    """
    Core killed with SIGKILL rebuilds its view from the Cell's list,
    which shows the domain destroyed while Core was down.
    """
    core, _, uri = cluster
    running, destroyed = two_running_guests(core)
    assert listed_running(core) == {running: True, destroyed: True}

    core.kill()
    destroy_domain(uri, destroyed)
    core.start()

    assert libvirt_running(uri, [running, destroyed]) == {
        running: True,
        destroyed: False,
    }
    assert_core_matches_libvirt(core, uri, [running, destroyed])


def test_cell_killed_with_instances_running(cluster):
    """
    nano-cell killed with SIGKILL leaves its domains to libvirt. Once
    restarted, it reconciles its journal with them and Core's view
    follows, including a domain destroyed while the Cell was down.
    """
    core, cell, uri = cluster
    running, destroyed = two_running_guests(core)

    cell.kill()
    destroy_domain(uri, destroyed)
    wait_until(lambda: not cell_alive(core), 30, "Core to see the Cell gone")
    code, envelope = core.call("GET", f"/api/v1/instances/{running}")
    assert code == 503, envelope
    cell.start()

    assert libvirt_running(uri, [running, destroyed]) == {
        running: True,
        destroyed: False,
    }
    assert_core_matches_libvirt(core, uri, [running, destroyed])


def test_cell_killed_mid_create(cluster):
    """
    nano-cell killed with SIGKILL while Core's create request waits for
    it: Core rolls the creation back once the Cell is back, and nothing
    of the guest is left.
    """
    core, cell, uri = cluster
    cell.process.send_signal(signal.SIGSTOP)
    guest_id = create_guest(core)
    cell.kill()
    wait_until(lambda: not cell_alive(core), 30, "Core to see the Cell gone")
    cell.start()
    wait_until(
        lambda: guest_status(core, guest_id) == "rolled back",
        60,
        "the rollback",
    )
    assert domain_state(uri, guest_id) is None
    assert list(cell.volumes.iterdir()) == []
    instances = core.data("GET", f"/api/v1/instance_status/p/{CELL}")
    assert instances == []
