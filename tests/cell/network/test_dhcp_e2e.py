"""
Addresses end to end: ``twistd nano-core`` allocates each guest an
address from the compute pool's address pool, and ``twistd nano-cell``
binds the guest's MAC to it in its dnsmasq.

The bridge lives in the root namespace with the private libvirtd. It
has no uplink and only 10.213.23.1/24.
"""

import subprocess
import uuid

import pytest
from e2e.guest_helpers import CELL, create_guest, join_pool
from e2e.processes import Cell, Core, wait_until

from nano.config import write_atomic

pytestmark = [pytest.mark.slow, pytest.mark.root]

GATEWAY = "10.213.23.1"
#: The address pool's only range: three addresses.
RANGE = ("10.213.23.10", "10.213.23.12")


def ip(*arguments):
    subprocess.run(["ip", *arguments], check=True)


@pytest.fixture
def bridge(blackhole):
    """A bridge with no uplink and 10.213.23.1/24."""
    name = f"nanoe{uuid.uuid4().hex[:8]}"
    ip("link", "add", name, "type", "bridge")
    try:
        ip("addr", "add", f"{GATEWAY}/24", "dev", name)
        ip("link", "set", name, "up")
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


@pytest.fixture
def cluster(private_libvirtd, bridge, open_directory):
    """Core and a Cell on ``bridge``, the Cell in pool ``p``."""
    root = open_directory / uuid.uuid4().hex[:8]
    root.mkdir(mode=0o755)
    core = Core(root)
    cell = Cell(root, CELL, private_libvirtd.uri, core)
    write_atomic(
        root / "cell-config" / "cell.cfg",
        {
            "libvirt_uri": private_libvirtd.uri,
            "domain_type": "qemu",
            "storage_directory": str(cell.volumes),
            "bridge": bridge,
        },
        mode=0o600,
    )
    try:
        core.start()
        cell.start()
        join_pool(core)
        yield core, cell, root
    finally:
        cell.kill()
        core.kill()
        private_libvirtd.remove_domains()
        dnsmasq = root / "cell-data" / "dhcp" / "dnsmasq.pid"
        if dnsmasq.exists():
            subprocess.run(["kill", dnsmasq.read_text().strip()])


def address_pool(core):
    """Create address pool ``ap`` with RANGE and bind it to pool ``p``."""
    core.data(
        "POST",
        "/api/v1/address_pools/ap",
        {"gateway": GATEWAY, "dns": [GATEWAY], "provider": "dhcp"},
    )
    start, end = RANGE
    core.data(
        "POST",
        f"/api/v1/address_pools/ap/internal/ranges/{start}",
        {"end": end, "netmask": "255.255.255.0"},
    )
    core.data("PUT", "/api/v1/compute_pools/p", {"network": "ap"})


def hosts_lines(root):
    """The lines of the Cell's dnsmasq hosts file."""
    path = root / "cell-data" / "dhcp" / "hosts"
    return path.read_text().splitlines() if path.exists() else []


def test_allocated_addresses_reach_dnsmasq(cluster):
    """
    Each guest's MAC is bound to the address Core allocated, with the
    guest's name, and a deleted guest's binding goes.
    """
    core, _, root = cluster
    address_pool(core)
    guests = [
        create_guest(core, name=f"bound-{n}", auto_start=False) for n in (1, 2)
    ]
    expected = []
    for guest_id in guests:
        wait_until(
            lambda guest_id=guest_id: core.data(
                "GET", f"/api/v1/guests/{guest_id}"
            )["created"],
            60,
            f"guest {guest_id} to be created:\n{core.log()[-2000:]}",
        )
        guest = core.data("GET", f"/api/v1/guests/{guest_id}")
        address = guest["internal"]["allocated_address"]
        expected.append(
            f"{guest['ethernet_address']},{address},{guest['name']}"
        )
    assert sorted(hosts_lines(root)) == sorted(expected)

    core.data("DELETE", f"/api/v1/guests/{guests[0]}")
    wait_until(
        lambda: hosts_lines(root) == expected[1:], 10, "the binding to go"
    )
