"""
Helpers of the end-to-end guest tests: a pool with the Cell in it,
guests created through the signed REST API, and libvirt's own view.
"""

from .processes import wait_until

CELL = "Cell_e2e"
MIB = 1024**2
GIB = 1024**3


def join_pool(core):
    """Wait for the Cell, create pool ``p`` and add the Cell to it."""
    wait_until(
        lambda: core.data("GET", "/api/v1/compute_pool_cells/"),
        30,
        "the Cell to connect",
    )
    core.data("POST", "/api/v1/compute_pools/p")
    core.data("POST", f"/api/v1/compute_pool_cells/p/{CELL}")
    wait_until(
        lambda: core.data("GET", f"/api/v1/compute_cell_status/p/{CELL}")[
            "max_cpu"
        ],
        30,
        "the Cell's first report",
    )


def domain_state(uri, guest_id):
    """Return the libvirt domain's state, or None if it does not exist."""
    import libvirt

    connection = libvirt.open(uri)
    try:
        return connection.lookupByUUIDString(guest_id).state()[0]
    except libvirt.libvirtError:
        return None
    finally:
        connection.close()


def create_guest(core, **fields):
    """Ask Core for a small guest; return its id."""
    template = core.data("GET", "/api/v1/templates/")[0]["id"]
    body = {
        "name": "e2e-vm",
        "owner": "admin",
        "group": "manager",
        "pool": "p",
        "cores": 1,
        "memory": 128 * MIB,
        "disks": [GIB],
        "template": template,
        "auto_start": True,
    }
    body.update(fields)
    return core.data("POST", "/api/v1/guests/", body, status=202)["id"]


def wait_created(core, guest_id):
    """Wait until Core shows the guest created."""
    wait_until(
        lambda: core.data("GET", f"/api/v1/guests/{guest_id}")["created"],
        60,
        f"guest {guest_id} to be created",
    )


def destroy_domain(uri, guest_id):
    """Stop a domain at once through libvirt, as ``virsh destroy`` does."""
    import libvirt

    connection = libvirt.open(uri)
    try:
        connection.lookupByUUIDString(guest_id).destroy()
    finally:
        connection.close()
