"""
Seed ISOs on real QEMU. The Cell creates instances from the test guest
with cloud-init settings, on a VirtIO and an IDE template, and libvirt's
QEMU driver runs them with the seed's CD-ROM drive beside the media
drive. A rebuild while the guest runs and a delete follow.
"""

import os
import xml.etree.ElementTree as ET

import libvirt
import pytest
import pytest_twisted

from nano.messages import (
    ComputeCellReady,
    CreateInstanceRequest,
    DeleteInstanceRequest,
    ModifyInstanceRequest,
)

from ..qemu_helpers import GUEST_IMAGE, MIB, marker_count, wait_until
from .seed_helpers import cloud_init, parse_user_data, read_with_pycdlib

pytestmark = [pytest.mark.slow, pytest.mark.root]

INSTANCES = {
    "virtio": "5d0c1a7e-2b3f-4e8d-9a6c-1f2e3d4c5b6a",
    "ide": "6e1d2b8f-3c4a-4f9e-8b7d-2a3f4e5d6c7b",
}


def live_drives(daemon, instance_id):
    """Return ``{target: source}`` of the running domain's CD-ROMs."""
    connection = libvirt.open(daemon.uri)
    try:
        xml = connection.lookupByUUIDString(instance_id).XMLDesc(0)
    finally:
        connection.close()
    drives = {}
    for disk in ET.fromstring(xml).find("devices").findall("disk"):
        if disk.get("device") == "cdrom":
            source = disk.find("source")
            file = None if source is None else source.get("file")
            drives[disk.find("target").get("dev")] = file
    return drives


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("bus", ["virtio", "ide"])
async def test_seed_drive_boots(cell, core, private_libvirtd, bus):
    """
    An instance with a seed runs, and the seed follows its life. The
    VirtIO one also boots, which shows that the seed drive leaves the
    boot disk first. The IDE one is not waited for, because a TCG boot
    takes seconds.
    """
    if not os.path.exists(GUEST_IMAGE):
        pytest.skip(f"{GUEST_IMAGE} missing: run tools/build-test-guest")
    instance_id = INSTANCES[bus]
    await wait_until(lambda: core.of_type(ComputeCellReady), "cell ready")
    reply = await core.request(
        CreateInstanceRequest(
            task_id="task-create",
            instance_id=instance_id,
            name="ops.seeded_1",
            cores=1,
            memory=128 * MIB,
            disks=[64 * MIB, 64 * MIB],
            template={"disk": bus},
            image=GUEST_IMAGE,
            cloud_init=cloud_init(),
            start=True,
        )
    )
    seed = os.path.join(cell.volumes, f"{instance_id}_ci.iso")
    console = cell.handlers.console_log(instance_id)
    assert reply.instance["state"] == "running"
    if bus == "virtio":
        await wait_until(lambda: marker_count(console) >= 1, "boot marker")
    drives = live_drives(private_libvirtd, instance_id)
    assert drives["hdd"] == seed
    assert list(drives.values()).count(seed) == 1

    await core.request(
        ModifyInstanceRequest(
            task_id="task-auth",
            instance_id=instance_id,
            admin_name="ops",
            admin_secret="Other-7",
        )
    )
    _, files = read_with_pycdlib(seed)
    [user] = parse_user_data(files["user-data"])["users"]
    assert user["name"] == "ops"

    await core.request(
        DeleteInstanceRequest(task_id="task-delete", instance_id=instance_id)
    )
    assert not os.path.exists(seed)
    assert os.listdir(cell.volumes) == []
