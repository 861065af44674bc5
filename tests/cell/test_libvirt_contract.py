"""
Contract tests: the fake libvirt and libvirt's ``test:///default`` driver
must behave the same through :class:`nano.cell.libvirt.Host`, so the fast
unit tests on the fake stay true to real libvirt.

Both run with the real reactor, the real libvirt thread and, for
``test:///default``, libvirt's real event loop.
"""

import uuid as uuid_module
import xml.etree.ElementTree as ET
from threading import get_ident

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from nano.cell.libvirt import (
    DomainExists,
    DomainNotFound,
    DomainNotRunning,
    DomainRunning,
    DomainState,
    Host,
    HypervisorError,
    InvalidDomainXML,
    LifecycleEvent,
    with_media,
)
from nano.testing.fake_libvirt import FakeLibvirt

STOP_DELAY = 0.05
EVENT_TIMEOUT = 5.0
MAC = "52:54:00:3c:00:01"

# Like the test driver, whose state is shared by the whole process.
_FAKE = FakeLibvirt()


def _backend(name):
    if name == "fake":
        return _FAKE, "fake:///default"
    libvirt = pytest.importorskip("libvirt")
    return libvirt, "test:///default"


@pytest.fixture(params=["fake", "test:///default"])
def host(request):
    """A connected Host on each backend, removing its domains after."""
    libvirt, uri = _backend(request.param)
    host = Host(reactor, uri, libvirt=libvirt, stop_delay=STOP_DELAY)
    host.startService()
    pytest_twisted.blockon(host.when_connected())
    host.created = []
    try:
        yield host
        removing = defer.Deferred.fromCoroutine(_remove(host, host.created))
        pytest_twisted.blockon(removing)
    finally:
        pytest_twisted.blockon(host.stopService())


async def _remove(host, names):
    for name in names:
        try:
            guest = await host.lookup(name)
        except DomainNotFound:
            continue
        if await guest.state() is not DomainState.STOPPED:
            await guest.destroy()
        await guest.undefine()


def domain_xml(name, uuid=None):
    """
    A test-driver domain with a disk, an empty CD-ROM drive, a NIC and a
    VNC password.
    """
    uuid_element = f"<uuid>{uuid}</uuid>" if uuid else ""
    return f"""<domain type='test'>
      <name>{name}</name>{uuid_element}
      <memory unit='KiB'>131072</memory><vcpu>1</vcpu>
      <os><type>hvm</type></os>
      <devices>
        <disk type='file' device='disk'>
          <source file='/var/tmp/{name}.qcow2'/>
          <target dev='vda' bus='virtio'/>
        </disk>
        <disk type='file' device='cdrom'>
          <target dev='hdc' bus='ide'/><readonly/>
        </disk>
        <interface type='bridge'>
          <source bridge='br0'/><mac address='{MAC}'/>
          <model type='virtio'/>
        </interface>
        <graphics type='vnc' autoport='yes' passwd='pw345678'/>
      </devices>
    </domain>"""


class Events:
    """Records a host's events and waits for one in particular."""

    def __init__(self, host):
        self.seen = []
        self._waiting = []
        host.add_event_listener(self._receive)

    def _receive(self, event):
        self.seen.append(event)
        for waiter in list(self._waiting):
            name, kind, deferred = waiter
            if (event.name, event.kind) == (name, kind):
                self._waiting.remove(waiter)
                deferred.callback(event)

    def wait_for(self, name, kind):
        """
        :return: a Deferred firing with the first matching event, now or
            later; it fails after ``EVENT_TIMEOUT`` seconds.
        """
        for event in self.seen:
            if (event.name, event.kind) == (name, kind):
                return defer.succeed(event)
        deferred = defer.Deferred()
        self._waiting.append((name, kind, deferred))
        return deferred.addTimeout(EVENT_TIMEOUT, reactor)


def unique_name(host):
    """A domain name no other test uses; removed after the test."""
    name = f"contract-{uuid_module.uuid4().hex[:8]}"
    host.created.append(name)
    return name


async def define(host, uuid=None):
    """Define a fresh domain and return its guest."""
    return await host.define(domain_xml(unique_name(host), uuid))


class TestLifecycle:
    """Define, start, stop and undefine, with their events."""

    @pytest_twisted.ensureDeferred
    async def test_define(self, host):
        """A defined domain is stopped, with a DEFINED event."""
        events = Events(host)
        uuid = str(uuid_module.uuid4())
        guest = await define(host, uuid)
        assert guest.uuid == uuid
        assert await guest.state() is DomainState.STOPPED
        event = await events.wait_for(guest.name, LifecycleEvent.DEFINED)
        assert event.uuid == uuid

    @pytest_twisted.ensureDeferred
    async def test_start(self, host):
        """A started domain runs, with a STARTED event."""
        events = Events(host)
        guest = await define(host)
        await guest.start()
        assert await guest.state() is DomainState.RUNNING
        await events.wait_for(guest.name, LifecycleEvent.STARTED)

    @pytest_twisted.ensureDeferred
    async def test_destroy(self, host):
        """A destroyed domain is stopped, with reason "destroyed"."""
        events = Events(host)
        guest = await define(host)
        await guest.start()
        await guest.destroy()
        assert await guest.state() is DomainState.STOPPED
        event = await events.wait_for(guest.name, LifecycleEvent.STOPPED)
        assert event.reason == "destroyed"

    @pytest_twisted.ensureDeferred
    async def test_shutdown(self, host):
        """Both drivers' guests obey the power button at once."""
        events = Events(host)
        guest = await define(host)
        await guest.start()
        await guest.shutdown()
        event = await events.wait_for(guest.name, LifecycleEvent.STOPPED)
        assert event.reason == "shutdown"

    @pytest_twisted.ensureDeferred
    async def test_undefine(self, host):
        """An undefined domain is gone, with an UNDEFINED event."""
        events = Events(host)
        guest = await define(host)
        await guest.undefine()
        await events.wait_for(guest.name, LifecycleEvent.UNDEFINED)
        with pytest.raises(DomainNotFound):
            await host.lookup(guest.name)

    @pytest_twisted.ensureDeferred
    async def test_listed(self, host):
        """domain_states and guests list the domain."""
        guest = await define(host)
        await guest.start()
        states = {status.uuid: status for status in await host.domain_states()}
        assert states[guest.uuid].name == guest.name
        assert states[guest.uuid].state is DomainState.RUNNING
        assert guest.uuid in [each.uuid for each in await host.guests()]


class TestErrors:
    """Invalid operations fail with Nano's exceptions."""

    @pytest_twisted.ensureDeferred
    async def test_start_running(self, host):
        """Starting a running domain is DomainRunning."""
        guest = await define(host)
        await guest.start()
        with pytest.raises(DomainRunning, match=guest.name):
            await guest.start()

    @pytest_twisted.ensureDeferred
    async def test_destroy_stopped(self, host):
        """Destroying a stopped domain is DomainNotRunning."""
        guest = await define(host)
        with pytest.raises(DomainNotRunning, match="not running"):
            await guest.destroy()

    @pytest_twisted.ensureDeferred
    async def test_undefine_running(self, host):
        """Undefining a running domain is refused."""
        guest = await define(host)
        await guest.start()
        with pytest.raises(DomainRunning, match="destroy it first"):
            await guest.undefine()

    @pytest_twisted.ensureDeferred
    async def test_unknown_domain(self, host):
        """Looking up an unknown name is DomainNotFound."""
        with pytest.raises(DomainNotFound) as caught:
            await host.lookup("contract-missing")
        assert caught.value.domain == "contract-missing"

    @pytest_twisted.ensureDeferred
    async def test_guest_of_undefined_domain(self, host):
        """A Guest whose domain is gone fails with DomainNotFound."""
        guest = await define(host)
        await guest.undefine()
        with pytest.raises(DomainNotFound, match=guest.name):
            await guest.start()

    @pytest_twisted.ensureDeferred
    async def test_duplicate_name(self, host):
        """Defining a second domain with a taken name is DomainExists."""
        guest = await define(host)
        with pytest.raises(DomainExists, match=guest.name):
            await host.define(domain_xml(guest.name))

    @pytest_twisted.ensureDeferred
    async def test_invalid_name(self, host):
        """libvirt rejects a name with a slash."""
        with pytest.raises(InvalidDomainXML, match="cannot contain"):
            await host.define(domain_xml("contract/slash"))

    @pytest_twisted.ensureDeferred
    async def test_unknown_device_stats(self, host):
        """Stats of a device the domain lacks fail, naming both."""
        guest = await define(host)
        await guest.start()
        with pytest.raises(HypervisorError, match="sdz") as caught:
            await guest.block_stats("sdz")
        assert guest.name in str(caught.value)


class TestConfiguration:
    """XML, autostart, memory, vCPUs and statistics."""

    @pytest_twisted.ensureDeferred
    async def test_xml_hides_password(self, host):
        """The VNC password shows only in the secure XML."""
        guest = await define(host)
        assert MAC in await guest.xml()
        assert "pw345678" not in await guest.xml()
        assert "pw345678" in await guest.xml(secure=True)

    @pytest_twisted.ensureDeferred
    async def test_autostart(self, host):
        """Autostart can be set and read back."""
        guest = await define(host)
        assert await guest.autostart() is False
        await guest.set_autostart(True)
        assert await guest.autostart() is True

    @pytest_twisted.ensureDeferred
    async def test_memory_and_vcpus(self, host):
        """Memory and vCPU changes show in the next-start XML."""
        guest = await define(host)
        await guest.set_memory(256 * 1024 * 1024)
        await guest.set_vcpus(2)
        xml = await guest.xml(inactive=True)
        assert "<memory unit='KiB'>262144</memory>" in _quotes(xml)
        assert ">2</vcpu>" in xml

    @pytest_twisted.ensureDeferred
    async def test_live_memory(self, host):
        """A live memory change applies now and at the next start."""
        guest = await define(host)
        await guest.start()
        await guest.set_memory(64 * 1024 * 1024, live=True)
        info = await guest.info()
        assert info.memory == 64 * 1024 * 1024
        assert info.max_memory == 128 * 1024 * 1024
        stored = _quotes(await guest.xml(inactive=True))
        assert "<memory unit='KiB'>65536</memory>" in stored

    @pytest_twisted.ensureDeferred
    async def test_live_memory_above_start(self, host):
        """A running domain cannot grow beyond its starting memory."""
        guest = await define(host)
        await guest.start()
        with pytest.raises(HypervisorError, match="higher than max"):
            await guest.set_memory(256 * 1024 * 1024, live=True)
        assert (await guest.info()).memory == 128 * 1024 * 1024

    @pytest_twisted.ensureDeferred
    async def test_config_vcpus_not_live(self, host):
        """A vCPU change without live waits for the next start."""
        guest = await define(host)
        await guest.start()
        await guest.set_vcpus(2)
        assert (await guest.info()).vcpus == 1
        await guest.destroy()
        assert (await guest.info()).vcpus == 2

    @pytest_twisted.ensureDeferred
    async def test_fewer_vcpus(self, host):
        """Lowering vCPUs lowers the maximum too."""
        guest = await define(host)
        await guest.set_vcpus(3)
        await guest.set_vcpus(2)
        assert (await guest.info()).vcpus == 2
        assert ">2</vcpu>" in await guest.xml(inactive=True)

    @pytest_twisted.ensureDeferred
    async def test_info(self, host):
        """info gives state, memory in bytes, vCPUs and CPU time."""
        guest = await define(host)
        await guest.start()
        info = await guest.info()
        assert info.state is DomainState.RUNNING
        assert info.max_memory == 128 * 1024 * 1024
        assert info.memory == 128 * 1024 * 1024
        assert info.vcpus == 1
        assert info.cpu_time >= 0

    @pytest_twisted.ensureDeferred
    async def test_stats(self, host):
        """Disk and NIC counters of a running domain are numbers."""
        guest = await define(host)
        await guest.start()
        block = await guest.block_stats("vda")
        interface = await guest.interface_stats(MAC)
        assert block.read_bytes >= 0
        assert block.errors >= 0
        assert interface.rx_bytes >= 0
        assert interface.tx_drops >= 0


class TestMedia:
    """Redefinition and the CD-ROM drive."""

    @pytest_twisted.ensureDeferred
    async def test_redefine_for_next_start(self, host):
        """A redefinition changes the next start, not the running domain."""
        guest = await define(host)
        await guest.start()
        definition = await guest.xml(secure=True, inactive=True)
        await guest.redefine(with_media(definition, ISO, True))
        assert "cdrom" not in _boots(await guest.xml())
        assert _boots(await guest.xml(inactive=True)) == ["cdrom", "hd"]
        assert ISO in await guest.xml(inactive=True)
        assert "pw345678" in await guest.xml(secure=True, inactive=True)

    @pytest_twisted.ensureDeferred
    async def test_redefine_other_uuid(self, host):
        """A redefinition with another domain's UUID is rejected."""
        guest = await define(host)
        other = domain_xml(guest.name, str(uuid_module.uuid4()))
        with pytest.raises(InvalidDomainXML, match="redefine failed"):
            await guest.redefine(other)

    @pytest_twisted.ensureDeferred
    async def test_change_media(self, host):
        """
        Media goes into the drive of a stopped domain. The test driver of
        libvirt 9.0 has no virDomainUpdateDeviceFlags and reports it;
        real QEMU is covered by the Cell's QEMU tests.
        """
        guest = await define(host)
        if host.uri.startswith("test:"):
            with pytest.raises(HypervisorError, match="not supported"):
                await guest.change_media(ISO)
            return
        await guest.change_media(ISO)
        assert ISO in await guest.xml(inactive=True)
        await guest.change_media(None)
        assert ISO not in await guest.xml(inactive=True)


class TestThreads:
    """libvirt calls leave the reactor thread; events come back to it."""

    @pytest_twisted.ensureDeferred
    async def test_one_libvirt_thread(self, host):
        """Every call runs on the same thread, never the reactor's."""
        threads = set()
        for _ in range(5):
            thread = await host.call(
                "read the thread", None, lambda connection: get_ident()
            )
            threads.add(thread)
        assert len(threads) == 1
        assert get_ident() not in threads

    @pytest_twisted.ensureDeferred
    async def test_events_on_reactor_thread(self, host):
        """Listeners are called on the reactor thread."""
        threads = []
        host.add_event_listener(lambda event: threads.append(get_ident()))
        events = Events(host)
        guest = await define(host)
        await events.wait_for(guest.name, LifecycleEvent.DEFINED)
        assert threads
        assert set(threads) == {get_ident()}


ISO = "/var/tmp/contract.iso"


def _boots(xml):
    """
    Return the boot devices of a domain XML in order, as ``<os><boot
    dev>`` names them: ``cdrom`` or ``hd``.
    """
    root = ET.fromstring(xml)
    legacy = [boot.get("dev") for boot in root.findall("os/boot")]
    ordered = sorted(
        (int(disk.find("boot").get("order")), disk.get("device"))
        for disk in root.iter("disk")
        if disk.find("boot") is not None
    )
    names = {"cdrom": "cdrom", "disk": "hd"}
    return legacy + [names[device] for _, device in ordered]


def _quotes(xml):
    return xml.replace('"', "'")
