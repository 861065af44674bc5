"""
The libvirt layer on real QEMU, through a private libvirtd: the default
templates' XML is accepted, and a guest boots, runs and is destroyed with
nothing left behind.

Guests use ``<domain type='qemu'>`` (TCG emulation) so that they boot on
hosts whose KVM cannot run a stock Linux kernel.
"""

import os
import subprocess
import time
import uuid as uuid_module
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from nano.cell.libvirt import (
    DEFAULT_TEMPLATES,
    DeviceSet,
    DomainNotFound,
    DomainSpec,
    DomainState,
    Host,
    HostUnavailable,
    HypervisorError,
    LifecycleEvent,
    domain_xml,
)
from nano.cell.storage import LocalStorage

# Built by tools/build-test-guest; its init prints the marker on ttyS0.
GUEST_IMAGE = "/var/tmp/nano-test-guest/nano-test-guest.qcow2"
BOOT_MARKER = b"NANO-GUEST-BOOTED"
# The shell's prompt: input typed before it shows may be lost.
PROMPT = b"nano-guest# "
BOOT_TIMEOUT = 60.0
EVENT_TIMEOUT = 30.0
MIB = 1024 * 1024

pytestmark = [pytest.mark.slow, pytest.mark.root]


@pytest.fixture
def host(private_libvirtd):
    """A Host connected to the private libvirtd."""
    host = Host(reactor, private_libvirtd.uri, stop_delay=0.5)
    host.startService()
    try:
        pytest_twisted.blockon(host.when_connected())
        yield host
    finally:
        pytest_twisted.blockon(host.stopService())


@pytest.fixture
def storage(tmp_path):
    """Volumes in the test's own directory."""
    directory = tmp_path / "volumes"
    directory.mkdir()
    return LocalStorage(reactor, str(directory))


@pytest.fixture
def bridge():
    """
    A bridge of the test's own with no address and no uplink, so guest
    traffic stays on it; deleted after the test.
    """
    name = f"nanotb{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=True)


def qemu_spec(name, disk, console_log, devices=None, bridge=None):
    """A TCG domain of 128 MiB, the least the test guest's kernel needs."""
    return DomainSpec(
        name=name,
        uuid=str(uuid_module.uuid4()),
        domain_type="qemu",
        cores=1,
        memory=128 * MIB,
        devices=devices or DeviceSet(),
        system_disk=disk,
        console_log=console_log,
        bridge=bridge,
        mac="52:54:00:3c:00:02" if bridge else None,
    )


def wait_for_event(host, name, kind):
    """Return a Deferred that fires with the next matching event."""
    arrived = defer.Deferred()

    def receive(event):
        if (event.name, event.kind) == (name, kind) and not arrived.called:
            host.remove_event_listener(receive)
            arrived.callback(event)

    host.add_event_listener(receive)
    return arrived.addTimeout(EVENT_TIMEOUT, reactor)


async def wait_for_marker(path, marker, timeout):
    """Poll a console log until it contains ``marker``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, "rb") as log:
                if marker in log.read():
                    return
        await task.deferLater(reactor, 0.2, lambda: None)
    raise AssertionError(f"{marker!r} not in {path} after {timeout} s")


@pytest_twisted.ensureDeferred
async def test_default_templates_accepted(host, storage, tmp_path):
    """libvirt with real QEMU accepts every default template's XML."""
    disk = await storage.create("templates", 64 * MIB)
    for template in DEFAULT_TEMPLATES:
        name = "nano-template-" + template.name.replace(" ", "-")
        # libvirt checks that a bridge exists only when the domain starts.
        spec = qemu_spec(
            name,
            disk,
            str(tmp_path / "console.log"),
            template.devices,
            bridge="nano-test-br0",
        )
        guest = await host.define(domain_xml(spec))
        xml = await guest.xml()
        await guest.undefine()
        assert f"<name>{name}</name>" in xml
        assert template.devices.nic_model in xml


@pytest_twisted.ensureDeferred
async def test_guest_boots_and_is_destroyed(
    host, storage, tmp_path, private_libvirtd, bridge
):
    """
    A guest with a NIC on a bridge boots (to the test image's marker, or
    with no OS when the image is not built), runs, is destroyed and leaves
    nothing behind.
    """
    console_log = str(tmp_path / "console.log")
    if os.path.exists(GUEST_IMAGE):
        disk = await storage.create_from_image("boot", GUEST_IMAGE, 64 * MIB)
    else:
        disk = await storage.create("boot", 64 * MIB)
    spec = qemu_spec("nano-boot-test", disk, console_log, bridge=bridge)
    guest = await host.define(domain_xml(spec))

    started = wait_for_event(host, guest.name, LifecycleEvent.STARTED)
    await guest.start()
    await started
    assert await guest.state() is DomainState.RUNNING
    if os.path.exists(GUEST_IMAGE):
        await wait_for_marker(console_log, BOOT_MARKER, BOOT_TIMEOUT)

    await check_password_change(guest)
    await check_stats(guest, spec.mac)

    stopped = wait_for_event(host, guest.name, LifecycleEvent.STOPPED)
    await guest.destroy()
    event = await stopped
    assert event.reason == "destroyed"
    assert await guest.state() is DomainState.STOPPED

    await guest.undefine()
    await storage.delete("boot")
    with pytest.raises(DomainNotFound):
        await host.lookup(guest.name)
    assert await host.domain_states() == []
    assert os.listdir(storage.directory) == []
    assert qemu_pidfiles(private_libvirtd) == []


@pytest_twisted.ensureDeferred
async def test_power_off_inside_guest(host, storage, tmp_path):
    """
    A guest that powers itself off is reported stopped, with reason
    "shutdown", and libvirt lists it as stopped.
    """
    if not os.path.exists(GUEST_IMAGE):
        pytest.skip(f"{GUEST_IMAGE} missing: run tools/build-test-guest")
    console_log = str(tmp_path / "console.log")
    disk = await storage.create_from_image("poweroff", GUEST_IMAGE, 64 * MIB)
    spec = qemu_spec("nano-poweroff-test", disk, console_log)
    guest = await host.define(domain_xml(spec))
    try:
        await guest.start()
        await wait_for_marker(console_log, PROMPT, BOOT_TIMEOUT)

        stopped = wait_for_event(host, guest.name, LifecycleEvent.STOPPED)
        await type_command(guest, stopped, b"poweroff -f")
        try:
            event = await stopped
        except defer.TimeoutError:
            with open(console_log, "rb") as log:
                tail = log.read()[-400:]
            raise AssertionError(
                f"no STOPPED event; console: {tail!r}"
            ) from None
        assert event.reason == "shutdown"
        assert await guest.state() is DomainState.STOPPED
    finally:
        if await guest.state() is not DomainState.STOPPED:
            await guest.destroy()
        await guest.undefine()


async def type_command(guest, done, command, attempts=5):
    """
    Type a shell command on the guest's serial console, through its
    host-side pty, until ``done`` fires.

    QEMU reads the pty only after it has noticed, within about a second,
    that someone opened it, so the pty stays open and the first write
    waits. busybox's shell requests the cursor position (ESC [6n) before
    it reads a line and takes the next input as the reply, so each
    attempt first sends a reply (ESC [1;1R).
    """
    live = ET.fromstring(await guest.xml())
    pty = live.find("devices/console").get("tty")
    descriptor = os.open(pty, os.O_WRONLY | os.O_NOCTTY)
    try:
        await task.deferLater(reactor, 1.5, lambda: None)
        for _ in range(attempts):
            os.write(descriptor, b"\x1b[1;1R")
            await task.deferLater(reactor, 0.3, lambda: None)
            os.write(descriptor, command + b"\n")
            for _ in range(15):
                await task.deferLater(reactor, 0.2, lambda: None)
                if done.called:
                    return
    finally:
        os.close(descriptor)


@pytest_twisted.ensureDeferred
async def test_start_without_disk_fails(host, tmp_path):
    """
    A domain whose volume is missing does not start, and the error names
    the file; it is a domain error, not a lost connection.
    """
    missing = str(tmp_path / "missing.qcow2")
    spec = qemu_spec("nano-no-disk", missing, str(tmp_path / "console.log"))
    guest = await host.define(domain_xml(spec))
    try:
        with pytest.raises(HypervisorError) as caught:
            await guest.start()
    finally:
        await guest.undefine()
    assert not isinstance(caught.value, HostUnavailable)
    assert missing in str(caught.value)
    assert "'nano-no-disk'" in str(caught.value)


@pytest_twisted.ensureDeferred
async def test_reconnect_after_libvirtd_restart(host, private_libvirtd):
    """
    When libvirtd restarts, the host notices the closed connection,
    reconnects and calls its reconnect listeners.
    """
    reconnected = defer.Deferred()
    host.add_reconnect_listener(lambda: reconnected.callback(None))
    # The restart blocks this thread for about 0.1 s; the close notice is
    # queued on the reactor meanwhile.
    private_libvirtd.restart()
    await reconnected.addTimeout(EVENT_TIMEOUT, reactor)
    assert isinstance(await host.domain_states(), list)


async def check_stats(guest, mac):
    """The running guest's disk and NIC have counters."""
    block = await guest.block_stats("vda")
    interface = await guest.interface_stats(mac)
    info = await guest.info()
    assert block.read_bytes > 0  # the boot loader read the disk
    assert interface.rx_bytes >= 0
    assert info.cpu_time > 0
    assert info.vcpus == 1


async def check_password_change(guest):
    """A new VNC password with an expiry applies live and at next start."""
    valid_until = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    await guest.set_graphics_password("new12345", valid_until)
    live = ET.fromstring(await guest.xml(secure=True))
    graphics = live.find("devices/graphics")
    assert graphics.get("passwd") == "new12345"
    assert graphics.get("passwdValidTo") == "2030-01-02T03:04:05"
    assert int(graphics.get("port")) >= 5900
    stored = ET.fromstring(await guest.xml(secure=True, inactive=True))
    assert stored.find("devices/graphics").get("passwd") == "new12345"


def qemu_pidfiles(daemon):
    """List the PID files of the QEMU processes libvirtd runs."""
    directory = os.path.join(daemon.directory, "run", "qemu")
    if not os.path.isdir(directory):
        return []
    return [
        name
        for name in os.listdir(directory)
        if name.endswith(".pid") and name != "driver.pid"
    ]
