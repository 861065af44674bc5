"""
The Cell end to end on real QEMU. A test Core on the real fabric (UDP on
loopback, the Core address given, no multicast) creates an instance from
the test guest and waits for it to boot. It stops and starts it, gets
the stop that a ``virsh destroy`` causes, and deletes it, and nothing is
left behind.

Guests use ``<domain type='qemu'>`` (TCG emulation) so that they boot on
hosts whose KVM cannot run a stock Linux kernel.
"""

import os
from types import SimpleNamespace

import libvirt
import pytest
import pytest_twisted
from twisted.application.service import MultiService
from twisted.internet import defer, reactor

from nano.cell._build import assemble
from nano.cell._settings import CellSettings
from nano.cell.libvirt import Host
from nano.cell.storage import LocalStorage
from nano.events import Journal
from nano.events.cell import CELL_EVENTS
from nano.fabric import CellFabric
from nano.messages import (
    ComputeCellReady,
    CreateInstanceRequest,
    DeleteInstanceRequest,
    GetInstanceStatusRequest,
    InstanceDeleted,
    InstanceStopped,
    StartInstanceRequest,
    StopInstanceRequest,
)

from .qemu_helpers import (
    GUEST_IMAGE,
    MIB,
    RecordingCore,
    marker_count,
    wait_until,
)

INSTANCE_ID = "0b6f2d55-4c1e-4d8a-9f3e-7a1c2b3d4e5f"
# Instances with a MAC get a NIC on this bridge, which does not exist, so
# they cannot start; instances without a MAC get no NIC.
MISSING_BRIDGE = "nanomissing0"

pytestmark = [pytest.mark.slow, pytest.mark.root]


@pytest.fixture
def core():
    """A test Core listening for the fabric on loopback."""
    core = RecordingCore()
    yield core
    pytest_twisted.blockon(core.close())


@pytest.fixture
def cell(private_libvirtd, core, tmp_path):
    """A Cell on the private libvirtd, connected to the test Core."""
    volumes = tmp_path / "volumes"
    volumes.mkdir()
    settings = CellSettings(
        libvirt_uri=private_libvirtd.uri,
        domain_type="qemu",
        storage_directory=str(volumes),
        bridge=MISSING_BRIDGE,
    )
    host = Host(reactor, settings.libvirt_uri, stop_delay=0.5)
    storage = LocalStorage(reactor, str(volumes))
    journal = Journal.open(tmp_path / "journal", CELL_EVENTS, reactor)
    parts = assemble(
        reactor,
        "Cell_qemu",
        settings,
        journal,
        host,
        storage,
        str(tmp_path / "consoles"),
    )
    fabric = CellFabric(
        reactor, core.config, parts.session, "Cell_qemu", core.address
    )
    services = MultiService()
    for child in (host, parts.service, parts.reporter, fabric):
        child.setServiceParent(services)
    services.startService()
    try:
        yield SimpleNamespace(
            book=parts.book,
            handlers=parts.handlers,
            host=host,
            journal=journal,
            volumes=str(volumes),
        )
    finally:
        pytest_twisted.blockon(defer.maybeDeferred(services.stopService))


@pytest_twisted.ensureDeferred
async def test_instance_lifecycle(cell, core, private_libvirtd, tmp_path):
    """
    Create (from the test guest, started), boot, forced stop, destroy
    outside Nano, start, delete: every state reaches Core, and nothing
    is left on the Cell.
    """
    if not os.path.exists(GUEST_IMAGE):
        pytest.skip(f"{GUEST_IMAGE} missing: run tools/build-test-guest")
    await wait_until(lambda: core.of_type(ComputeCellReady), "cell ready")
    console = cell.handlers.console_log(INSTANCE_ID)

    reply = await core.request(
        CreateInstanceRequest(
            task_id="task-create",
            instance_id=INSTANCE_ID,
            name="guest1",
            cores=1,
            memory=128 * MIB,
            disks=[64 * MIB],
            image=GUEST_IMAGE,
            start=True,
        )
    )
    assert reply.instance["state"] == "running"
    await wait_until(lambda: marker_count(console) >= 1, "boot marker")
    status = await core.request(
        GetInstanceStatusRequest(instance_id=INSTANCE_ID)
    )
    assert status.cpu_time > 0
    assert status.display["port"] >= 5900
    assert len(status.display["password"]) == 8

    stopped = await core.request(
        StopInstanceRequest(
            task_id="task-stop", instance_id=INSTANCE_ID, force=True
        )
    )
    assert stopped.state == "stopped"
    await check_domain_state(private_libvirtd, libvirt.VIR_DOMAIN_SHUTOFF)

    started = await core.request(
        StartInstanceRequest(task_id="task-start", instance_id=INSTANCE_ID)
    )
    assert started.state == "running"
    await wait_until(lambda: marker_count(console) >= 2, "second boot")

    await destroy_with_virsh(private_libvirtd)
    await wait_until(
        lambda: (
            [m.reason for m in core.of_type(InstanceStopped)]
            == ["destroyed", "destroyed"]
        ),
        "stop seen after virsh destroy",
        timeout=10,
    )
    assert cell.book.get(INSTANCE_ID).state == "stopped"

    deleted = await core.request(
        DeleteInstanceRequest(task_id="task-delete", instance_id=INSTANCE_ID)
    )
    assert deleted.instance_id == INSTANCE_ID
    await check_nothing_left(cell, core, private_libvirtd)


@pytest_twisted.ensureDeferred
async def test_failed_create_leaves_nothing(cell, core, private_libvirtd):
    """
    A create that fails after its volume was made and its domain defined
    (the domain cannot start: its NIC's bridge does not exist) is rolled
    back: no domain, no volume, and the journal records the failure.
    """
    await wait_until(lambda: core.of_type(ComputeCellReady), "cell ready")
    with pytest.raises(Exception, match="rolled back") as caught:
        await core.request(
            CreateInstanceRequest(
                task_id="task-bad",
                instance_id=INSTANCE_ID,
                name="no-bridge",
                cores=1,
                memory=128 * MIB,
                disks=[64 * MIB],
                mac="52:54:00:3c:00:09",
                start=True,
            )
        )
    assert MISSING_BRIDGE in str(caught.value)
    await check_nothing_left(cell, core, private_libvirtd, deleted=False)
    types = [event.type_name for _, event in cell.journal.read()]
    assert types == [
        "InstanceCreating",
        "VolumeCreated",
        "InstanceCreated",
        "VolumeDeleted",
        "InstanceCreateFailed",
    ]


async def check_domain_state(daemon, expected):
    connection = libvirt.open(daemon.uri)
    try:
        state = connection.lookupByUUIDString(INSTANCE_ID).state()[0]
    finally:
        connection.close()
    assert state == expected


async def destroy_with_virsh(daemon):
    """Destroy the domain over a connection of its own, as virsh does."""
    connection = libvirt.open(daemon.uri)
    try:
        connection.lookupByUUIDString(INSTANCE_ID).destroy()
    finally:
        connection.close()


async def check_nothing_left(cell, core, daemon, deleted=True):
    assert await cell.host.domain_states() == []
    assert os.listdir(cell.volumes) == []
    assert cell.book.get(INSTANCE_ID) is None
    if deleted:
        notices = core.of_type(InstanceDeleted)
        assert [n.instance_id for n in notices] == [INSTANCE_ID]
    run = os.path.join(daemon.directory, "run", "qemu")
    if os.path.isdir(run):
        pids = [n for n in os.listdir(run) if n.endswith(".pid")]
        assert [n for n in pids if n != "driver.pid"] == []
