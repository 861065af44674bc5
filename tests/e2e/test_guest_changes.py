"""
Guest changes through the signed REST API, applied by a real nano-cell
to a QEMU domain on a private libvirtd.
"""

import xml.etree.ElementTree as ET

import pytest

from .guest_helpers import MIB, create_guest, wait_created

libvirt = pytest.importorskip("libvirt")

pytestmark = [pytest.mark.slow, pytest.mark.root]


def definition(uri, guest_id, flags):
    """Return the vCPUs, the KiB of memory and the autostart of a domain."""
    connection = libvirt.open(uri)
    try:
        domain = connection.lookupByUUIDString(guest_id)
        root = ET.fromstring(domain.XMLDesc(flags))
        vcpu = root.find("vcpu")
        return (
            int(vcpu.get("current", vcpu.text)),
            int(root.findtext("currentMemory")),
            bool(domain.autostart()),
        )
    finally:
        connection.close()


def test_changes_reach_the_domain(cluster):
    """
    Name, cores, memory and autostart change, cores and memory for the
    next start, and a live shrink is accepted. A live growth the domain
    cannot take is a 409 that leaves Core's value as it was.
    """
    core, _, uri = cluster
    guest_id = create_guest(core)
    wait_created(core, guest_id)
    path = f"/api/v1/guests/{guest_id}"

    core.data("PUT", f"{path}/name/", {"name": "e2e-renamed"})
    core.data("PUT", f"{path}/cores", {"cores": 2})
    core.data("PUT", f"{path}/memory", {"memory": 96 * MIB})
    core.data("PUT", f"{path}/auto_start", {"enable": True})
    inactive = libvirt.VIR_DOMAIN_XML_INACTIVE
    assert definition(uri, guest_id, inactive) == (2, 96 * 1024, True)
    assert definition(uri, guest_id, 0)[:2] == (1, 128 * 1024)

    body = {"memory": 64 * MIB, "immediate": True}
    core.data("PUT", f"{path}/memory", body)
    assert definition(uri, guest_id, inactive)[1] == 64 * 1024
    # NOTE: the running domain has no guest OS, so no balloon driver
    # gives the memory back and its live value stays as it was.

    body = {"memory": 256 * MIB, "immediate": True}
    code, envelope = core.call("PUT", f"{path}/memory", body)
    assert code == 409, envelope
    assert "invalid memory 268435456" in envelope["message"]
    guest = core.data("GET", path)
    assert (guest["name"], guest["cores"]) == ("e2e-renamed", 2)
    assert (guest["memory"], guest["auto_start"]) == (64 * MIB, True)
