"""
One libvirt domain, with every call run on the host's libvirt thread.
"""

import xml.etree.ElementTree as ET

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from ._constants import DomainState, domain_state
from ._domain_xml import check_graphics_password
from ._errors import (
    DomainNotRunning,
    DomainRunning,
    HypervisorError,
    InvalidDomainXML,
)
from ._media import NoCdromDrive, cdrom_device_xml

# libvirt flag values (libvirt-domain.h)
_AFFECT_LIVE = 1
_AFFECT_CONFIG = 2
_MAXIMUM = 4  # VIR_DOMAIN_MEM_MAXIMUM and VIR_DOMAIN_VCPU_MAXIMUM
_XML_SECURE = 1
_XML_INACTIVE = 2
#: Attempts at a media change, and seconds between them, while QEMU
#: reports the drive's tray closed.
TRAY_TRIES = 10
TRAY_DELAY = 0.5
# QEMU's error (7.2, blockdev-remove-medium) for a tray that is not open.
_TRAY_CLOSED = "is not open"


@attrs.frozen
class GuestInfo:
    """
    A domain's state and size, read in one call.

    :ivar state: the :class:`DomainState`.
    :ivar memory: current memory in bytes.
    :ivar max_memory: the memory limit in bytes.
    :ivar vcpus: the number of vCPUs.
    :ivar cpu_time: CPU time used since the domain started, in
        nanoseconds; the difference of two readings gives CPU load.
    """

    state: DomainState
    memory: int
    max_memory: int
    vcpus: int
    cpu_time: int


@attrs.frozen
class BlockStats:
    """Cumulative I/O counters of one disk since the domain started."""

    read_requests: int
    read_bytes: int
    write_requests: int
    write_bytes: int
    errors: int


@attrs.frozen
class InterfaceStats:
    """Cumulative traffic counters of one network interface."""

    rx_bytes: int
    rx_packets: int
    rx_errors: int
    rx_drops: int
    tx_bytes: int
    tx_packets: int
    tx_errors: int
    tx_drops: int


@attrs.frozen
class Guest:
    """
    One libvirt domain, found by its UUID on every call so that it keeps
    working after the host reconnects.

    Every method returns a Deferred. Failures are
    :exc:`HypervisorError` subclasses whose message names the domain.

    :ivar name: the domain name when this object was made.
    :ivar uuid: the domain UUID.
    """

    _host: object = attrs.field(repr=False)
    name: str
    uuid: str

    def start(self):
        """
        Start the defined domain; fails with :exc:`DomainRunning` if it
        runs already.
        """
        return self._call("start", _start, not_active=DomainRunning)

    def shutdown(self):
        """
        Ask the guest OS to shut down (ACPI power button).

        The domain may ignore it. Its STOPPED event marks when it is off.
        Fails with :exc:`DomainNotRunning` if it is not running.
        """
        return self._call("shut down", _shutdown)

    def destroy(self):
        """
        Stop the domain at once, like pulling the power plug; fails with
        :exc:`DomainNotRunning` if it is not running.
        """
        return self._call("destroy", _destroy)

    def undefine(self):
        """
        Remove the stopped domain's definition; fails with
        :exc:`DomainRunning` if it still runs (destroy it first).
        """
        return self._call("undefine", _undefine)

    def state(self):
        """Read the power state, a :class:`DomainState`."""
        return self._call("read the state of", _state)

    def info(self):
        """Read the domain's :class:`GuestInfo`."""
        return self._call("read info of", _info)

    def xml(self, secure=False, inactive=False):
        """
        Read the domain XML.

        :param secure: include secrets such as the VNC password.
        :param inactive: read the definition used at the next start
            rather than the running one.
        """
        flags = (_XML_SECURE if secure else 0) | (
            _XML_INACTIVE if inactive else 0
        )
        return self._call("read the XML of", _xml, flags)

    def autostart(self):
        """Read whether libvirt starts the domain when the host boots."""
        return self._call("read autostart of", _autostart)

    def set_autostart(self, enabled):
        """Set whether libvirt starts the domain when the host boots."""
        return self._call("set autostart of", _set_autostart, enabled)

    def set_memory(self, size, live=False):
        """
        Set the memory for the next start, and, with ``live``, of the
        running domain too, through the balloon.

        :param size: bytes; rounded down to whole KiB.
        :raises HypervisorError: with ``live``, for a size above the memory
            the domain started with. The next-start value is changed by
            then.
        """
        return self._call("set memory of", _set_memory, size // 1024, live)

    def set_vcpus(self, count, live=False):
        """
        Set the number of vCPUs for the next start, and, with ``live``, of
        the running domain too (CPU hotplug, which the guest must support).
        """
        return self._call("set vCPUs of", _set_vcpus, count, live)

    def set_graphics_password(self, password, valid_until=None):
        """
        Replace the VNC or SPICE password, for the running domain and for
        its next start. Open sessions stay connected.

        :param password: 1 to 8 printable ASCII characters.
        :param valid_until: a UTC :class:`datetime.datetime` after which
            the password no longer lets new clients in, or ``None`` for no
            expiry.
        :raises InvalidDomainSpec: at once, for an invalid password.
        """
        check_graphics_password(password)
        expiry = None
        if valid_until is not None:
            expiry = valid_until.strftime("%Y-%m-%dT%H:%M:%S")
        return self._call(
            "set the graphics password of",
            _set_graphics_password,
            password,
            expiry,
        )

    def redefine(self, domain_xml):
        """
        Replace the domain's persistent definition, used from its next
        start; a running domain keeps running as it was started.

        :param domain_xml: the new definition, with this domain's UUID.
        :raises InvalidDomainXML: the XML names another UUID, or libvirt
            rejected it.
        """
        return self._host.call(
            "redefine", self.name, _redefine, self.uuid, domain_xml
        )

    def change_media(self, path):
        """
        Put the ISO at ``path`` in the CD-ROM drive, or empty the drive
        for ``None``: in the definition, and in the running domain too.

        QEMU may report the drive's tray still closed just after a media
        change, and then rejects the next one. So the change is tried up to
        :data:`TRAY_TRIES` times, :data:`TRAY_DELAY` seconds apart.

        :raises HypervisorError: the domain has no CD-ROM drive, or
            libvirt failed.
        """
        return Deferred.fromCoroutine(self._change_media(path))

    async def _change_media(self, path):
        for attempt in range(1, TRAY_TRIES + 1):
            try:
                return await self._call(
                    "change the media of", _change_media, path
                )
            except HypervisorError as error:
                if _TRAY_CLOSED not in str(error) or attempt == TRAY_TRIES:
                    raise
            await deferLater(self._host.reactor, TRAY_DELAY, lambda: None)

    def block_stats(self, device):
        """
        Read a disk's :class:`BlockStats`.

        :param device: the target device, such as ``"vda"``.
        """
        return self._call("read block stats of", _block_stats, device)

    def interface_stats(self, device):
        """
        Read a network interface's :class:`InterfaceStats`.

        :param device: the host-side device, such as ``"vnet0"``.
        """
        return self._call("read interface stats of", _interface_stats, device)

    def _call(self, action, function, *args, not_active=DomainNotRunning):
        return self._host.call(
            action,
            self.name,
            _on_domain,
            self.uuid,
            function,
            *args,
            not_active=not_active,
        )


def _on_domain(connection, uuid, function, *args):
    return function(connection.lookupByUUIDString(uuid), *args)


def _start(domain):
    if domain.isActive():
        raise DomainRunning(
            f"start domain {domain.name()!r} failed: it is already running",
            domain.name(),
        )
    domain.create()


def _shutdown(domain):
    domain.shutdown()


def _destroy(domain):
    domain.destroy()


def _undefine(domain):
    if domain.isActive():
        raise DomainRunning(
            f"undefine domain {domain.name()!r} failed: it is running; "
            "destroy it first",
            domain.name(),
        )
    domain.undefine()


def _state(domain):
    return domain_state(domain.state()[0])


def _info(domain):
    state, max_kib, kib, vcpus, cpu_time = domain.info()
    return GuestInfo(
        state=domain_state(state),
        memory=kib * 1024,
        max_memory=max_kib * 1024,
        vcpus=vcpus,
        cpu_time=cpu_time,
    )


def _xml(domain, flags):
    return domain.XMLDesc(flags)


def _autostart(domain):
    return bool(domain.autostart())


def _set_autostart(domain, enabled):
    domain.setAutostart(1 if enabled else 0)


def _set_memory(domain, kib, live):
    domain.setMemoryFlags(kib, _AFFECT_CONFIG | _MAXIMUM)
    domain.setMemoryFlags(kib, _AFFECT_CONFIG)
    if live and domain.isActive():
        domain.setMemoryFlags(kib, _AFFECT_LIVE)


def _set_vcpus(domain, count, live):
    maximum = domain.vcpusFlags(_AFFECT_CONFIG | _MAXIMUM)
    if count > maximum:
        domain.setVcpusFlags(count, _AFFECT_CONFIG | _MAXIMUM)
        domain.setVcpusFlags(count, _AFFECT_CONFIG)
    else:
        domain.setVcpusFlags(count, _AFFECT_CONFIG)
        domain.setVcpusFlags(count, _AFFECT_CONFIG | _MAXIMUM)
    if live and domain.isActive():
        domain.setVcpusFlags(count, _AFFECT_LIVE)


def _set_graphics_password(domain, password, expiry):
    # The secure XML has the current password and, while running, the
    # port, which the update must keep.
    root = ET.fromstring(domain.XMLDesc(_XML_SECURE))
    graphics = root.find("devices/graphics")
    if graphics is None:
        raise HypervisorError(
            f"set the graphics password of domain {domain.name()!r} "
            "failed: it has no VNC or SPICE display",
            domain.name(),
        )
    graphics.set("passwd", password)
    graphics.attrib.pop("passwdValidTo", None)
    if expiry is not None:
        graphics.set("passwdValidTo", expiry)
    flags = _AFFECT_CONFIG | (_AFFECT_LIVE if domain.isActive() else 0)
    domain.updateDeviceFlags(ET.tostring(graphics, encoding="unicode"), flags)


def _redefine(connection, uuid, domain_xml):
    found = ET.fromstring(domain_xml).findtext("uuid", "").lower()
    if found != uuid:
        raise InvalidDomainXML(
            f"redefine failed: the XML has UUID {found!r}, not {uuid}"
        )
    connection.defineXML(domain_xml)


def _change_media(domain, path):
    try:
        device = cdrom_device_xml(domain.XMLDesc(0), path)
    except NoCdromDrive as error:
        raise HypervisorError(str(error), domain.name()) from None
    flags = _AFFECT_CONFIG | (_AFFECT_LIVE if domain.isActive() else 0)
    domain.updateDeviceFlags(device, flags)


def _block_stats(domain, device):
    return BlockStats(*domain.blockStats(device))


def _interface_stats(domain, device):
    return InterfaceStats(*domain.interfaceStats(device))
